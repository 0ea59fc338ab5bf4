// Subscriptions end to end in distributed mode: `dtq api` (gRPC JobService)
// and one `dtq worker --only TYPE` pool per shipped type on Redis, RabbitMQ,
// Kafka and FerretDB (the `distributed_servers` ctest fixture starts them),
// with the gateway as its own process beside the API, as in a cluster: no
// upstream, its own probes. A job of each type followed over a real
// WebSocket to its end, and every job's changes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import {
  config,
  FakeProvider,
  gql,
  JOB_UPDATED,
  PAYLOADS,
  startGateway,
  stopProcess,
  submit,
  subscribe,
  tempDir,
  wsClient,
  eventually,
} from './harness.mjs';

const state = process.env.DTQ_TEST_DISTRIBUTED_STATE;
const SECRET = 'graphql-distributed-secret';

// The servers' URLs, from the fixture's env files.
function serversEnv() {
  const env = {};
  for (const server of ['redis', 'rabbitmq', 'kafka', 'ferretdb']) {
    const file = path.join(state, server, 'env');
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (match) env[match[1]] = match[2];
    }
  }
  return env;
}

const children = [];
let logs;

function dtq(args, env, name) {
  const log = fs.openSync(path.join(logs.dir, `${name}.log`), 'a');
  const dataDir = path.join(logs.dir, `${name}-data`);
  const child = spawn(config.dtq, ['--plugin-dir', config.pluginDir, '--data-dir', dataDir, '--log-level', 'info', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', log],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  const seen = [];
  const waiters = [];
  lines.on('line', (line) => {
    seen.push(line);
    for (const w of waiters.splice(0)) w();
  });
  return {
    child,
    async line(pattern) {
      return eventually(() => seen.map((l) => pattern.exec(l)).find(Boolean), { timeoutMs: 60_000, what: `${name}: ${pattern}` });
    },
  };
}

let provider;
let gateway;

before(async () => {
  assert.ok(state, 'DTQ_TEST_DISTRIBUTED_STATE names the distributed servers\' state folder');
  logs = tempDir('dtq-graphql-distributed-');
  provider = await FakeProvider.start();
  const env = { ...serversEnv(), DTQ_HTTP_BASE_URL: provider.url, DTQ_API_TOKEN: config.token, DTQ_CLUSTER_SECRET: SECRET };
  const api = dtq(['api', '--listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--submit-rate', '1000'], env, 'api');
  const grpcAt = (await api.line(/^GRPC_LISTENING (\S+)$/))[1];
  for (const type of Object.keys(PAYLOADS)) dtq(['worker', '--only', type, '--concurrency', '2'], env, `worker-${type}`);
  gateway = await startGateway({ DTQ_GRPC_TARGET: grpcAt });
  // Every pool registered.
  await eventually(async () => {
    const { body } = await gql(gateway.url, '{ jobTypes { jobType healthy } }');
    return body.data?.jobTypes.filter((t) => t.healthy).length === 4;
  }, { timeoutMs: 90_000, what: 'the four pools' });
});

after(async () => {
  await gateway?.stop();
  await Promise.all(children.map((child) => stopProcess(child)));
  await provider?.stop();
  if (process.exitCode && logs) {
    for (const file of fs.readdirSync(logs.dir)) {
      const text = fs.readFileSync(path.join(logs.dir, file), 'utf8');
      console.error(`--- ${file} ---\n${text.slice(-3000)}`);
    }
  }
  logs?.remove();
});

test('the gateway alone answers its own probes', async () => {
  assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${gateway.url}/readyz`)).status, 200);
  assert.match(await (await fetch(`${gateway.url}/metrics`)).text(), /dtq_gateway_subscriptions/);
  assert.equal((await fetch(`${gateway.url}/v1/jobs`)).status, 404);
});

test('jobUpdated follows a job of each type on the pools, and jobEvents sees them all', async () => {
  const client = wsClient(gateway.url);
  try {
    const events = subscribe(client, 'subscription { jobEvents(state: COMPLETED) { jobId jobType state } }');
    await eventually(async () => /dtq_gateway_grpc_streams 1/.test(await (await fetch(`${gateway.url}/metrics`)).text()), {
      what: 'the all-jobs stream',
    });
    const ids = [];
    for (const jobType of Object.keys(PAYLOADS)) {
      const id = await submit(gateway.url, jobType);
      ids.push(id);
      const list = (await subscribe(client, JOB_UPDATED, { id }).done).map((e) => {
        assert.equal(e.errors, undefined, JSON.stringify(e.errors));
        return e.data.jobUpdated;
      });
      for (let i = 1; i < list.length; i += 1) assert.ok(list[i].progressPercent >= list[i - 1].progressPercent);
      assert.equal(list.at(-1).state, 'COMPLETED', `${jobType}: ${JSON.stringify(list)}`);
      assert.ok(list.every((s) => s.jobId === id && s.jobType === jobType));
    }
    await eventually(() => ids.every((id) => events.events.some((e) => e.data?.jobEvents.jobId === id)), {
      what: 'every job in the completed stream',
    });
    events.unsubscribe();
  } finally {
    await client.dispose();
  }
});
