// Subscriptions end to end over a real WebSocket (graphql-transport-ws),
// against the real `dtq serve` and its gateway: a job of each shipped type
// followed to its end; every job's changes; a subscription that outlives a
// restart of the server; a thousand at once, none losing or reordering a
// job's updates.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  codes,
  DtqServe,
  FakeProvider,
  freePort,
  gql,
  JOB_UPDATED,
  PAYLOADS,
  submit,
  subscribe,
  tempDir,
  wsClient,
  eventually,
} from './harness.mjs';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

function statuses(events) {
  return events.map((event) => {
    assert.equal(event.errors, undefined, JSON.stringify(event.errors));
    return event.data.jobUpdated ?? event.data.jobEvents;
  });
}

// What a watcher of one job may see: progress never down, one terminal
// state, at the end.
function assertWellOrdered(list) {
  assert.ok(list.length > 0, 'no event');
  for (let i = 1; i < list.length; i += 1) {
    assert.ok(list[i].progressPercent >= list[i - 1].progressPercent, `progress went down: ${JSON.stringify(list)}`);
    assert.ok(!TERMINAL.has(list[i - 1].state), `an event after the terminal state: ${JSON.stringify(list)}`);
  }
  assert.ok(TERMINAL.has(list.at(-1).state), `no terminal state: ${JSON.stringify(list)}`);
}

let provider;

before(async () => {
  provider = await FakeProvider.start();
});

after(async () => {
  await provider?.stop();
});

describe('dtq serve', () => {
  let serve;
  let data;
  let client;
  before(async () => {
    data = tempDir();
    serve = await DtqServe.start({ providerUrl: provider.url, dataDir: data.dir });
    client = wsClient(serve.url);
  });
  after(async () => {
    await client?.dispose();
    await serve?.stop();
    data?.remove();
  });

  for (const jobType of Object.keys(PAYLOADS)) {
    test(`jobUpdated follows a ${jobType} job from its snapshot to its end`, async () => {
      // Slowed, so that the subscription sees the job live, not only its end.
      if (jobType === 'weather') await provider.fault({ kind: 'latency', path: '/v1/forecast', delay_ms: 600, times: 1 });
      const id = await submit(serve.url, jobType);
      const watched = subscribe(client, JOB_UPDATED, { id });
      const list = statuses(await watched.done);
      assertWellOrdered(list);
      assert.equal(list.at(-1).state, 'COMPLETED', JSON.stringify(list));
      assert.equal(list.at(-1).progressPercent, 100);
      assert.ok(list.every((s) => s.jobId === id && s.jobType === jobType));
      if (jobType === 'weather') {
        // The milestones 0 → 20 → 50 → 80 → 100 arrive in order, live.
        const seen = list.map((s) => s.progressPercent);
        assert.ok(seen.length >= 3, `only ${JSON.stringify(seen)}`);
        assert.ok(seen.every((p) => [0, 20, 50, 80, 100].includes(p)), JSON.stringify(seen));
      }
      const { body } = await gql(serve.url, `{ job(id: "${id}") { result { finalState output } } }`);
      assert.equal(body.data.job.result.finalState, 'COMPLETED');
      assert.ok(body.data.job.result.output);
    });
  }

  test('jobEvents carries every job\'s changes, filtered by type and state', async () => {
    const all = subscribe(client, 'subscription { jobEvents(jobType: "quote") { jobId jobType state progressPercent } }');
    const done = subscribe(client, 'subscription { jobEvents(state: COMPLETED) { jobId state } }');
    await eventually(async () => {
      const metrics = await (await fetch(`${serve.url}/-/gateway/metrics`)).text();
      // At least: a watch of an earlier test may still be closing.
      return Number(/^dtq_gateway_grpc_streams (\d+)/m.exec(metrics)?.[1] ?? 0) >= 2;
    }, { what: 'both streams to open' });
    // Slowed, so that both streams are surely subscribed at dtq when they end.
    await provider.fault({ kind: 'latency', path: '/quotes/random', delay_ms: 500, times: 1 });
    await provider.fault({ kind: 'latency', path: '/users/octocat', delay_ms: 500, times: 1 });
    const quote = await submit(serve.url, 'quote');
    const github = await submit(serve.url, 'github_user');
    await eventually(() => statuses(all.events).some((s) => s.jobId === quote && s.state === 'COMPLETED'), { what: 'the quote job to complete' });
    await eventually(() => statuses(done.events).some((s) => s.jobId === github), { what: 'the github job in the completed stream' });
    assert.ok(statuses(all.events).every((s) => s.jobType === 'quote'));
    assert.ok(statuses(done.events).every((s) => s.state === 'COMPLETED'));
    const quoteSeen = statuses(all.events).filter((s) => s.jobId === quote);
    for (let i = 1; i < quoteSeen.length; i += 1) assert.ok(quoteSeen[i].progressPercent >= quoteSeen[i - 1].progressPercent);
    all.unsubscribe();
    done.unsubscribe();
  });

  test('jobChanges opens with watching once dtq holds the watch; every change after it arrives', async () => {
    const changes = subscribe(client, 'subscription { jobChanges(jobType: "quote") { watching status { jobId state } } }');
    await eventually(() => changes.events.length > 0, { what: 'the watch to be established' });
    assert.deepEqual(changes.events[0], { data: { jobChanges: { watching: true, status: null } } });
    // Submitted the moment the watch is established: its first state arrives too.
    const quote = await submit(serve.url, 'quote');
    await eventually(() => changes.events.some((e) => e.data.jobChanges.status?.state === 'COMPLETED'), { what: 'the quote job to complete' });
    const seen = changes.events.slice(1).map((e) => e.data.jobChanges);
    assert.ok(seen.every((c) => !c.watching && c.status.jobId === quote), JSON.stringify(seen));
    assert.equal(seen[0].status.state, 'QUEUED', JSON.stringify(seen));
    changes.unsubscribe();
  });

  test('an unknown job ends its subscription with unknown_job', async () => {
    const watched = subscribe(client, JOB_UPDATED, { id: '1b4e28ba-2fa1-41d2-883f-0016d3cca427' });
    await watched.done;
    assert.deepEqual(codes(watched.events[0]), ['unknown_job']);
  });

  test('1,000 concurrent subscriptions: none loses or reorders a job\'s updates', async () => {
    const jobs = 10;
    const perJob = 100;
    // Held at the provider so every subscriber is in before the job moves.
    await provider.fault({ kind: 'latency', path: '/v1/forecast', delay_ms: 1500, times: jobs });
    const ids = [];
    for (let i = 0; i < jobs; i += 1) ids.push(await submit(serve.url, 'weather', { city: 'Berlin', country_code: 'DE' }));
    // Spread over a few connections, as many browsers would be.
    const clients = Array.from({ length: 4 }, () => wsClient(serve.url));
    try {
      const subscriptions = [];
      for (let n = 0; n < jobs * perJob; n += 1) {
        const id = ids[n % jobs];
        subscriptions.push({ id, watch: subscribe(clients[n % clients.length], JOB_UPDATED, { id }) });
      }
      const results = await Promise.all(subscriptions.map(async ({ id, watch }) => ({ id, list: statuses(await watch.done) })));
      assert.equal(results.length, 1000);
      const longest = new Map();
      for (const { id, list } of results) {
        assertWellOrdered(list);
        assert.equal(list.at(-1).state, 'COMPLETED');
        if (!longest.has(id) || longest.get(id).length < list.length) longest.set(id, list);
      }
      // Each subscriber saw the job's one sequence from its snapshot on: a
      // suffix of the longest, nothing missing in between, nothing swapped.
      const key = (s) => `${s.state}/${s.progressPercent}/${s.message}`;
      for (const { id, list } of results) {
        const full = longest.get(id).map(key);
        const mine = list.map(key);
        assert.deepEqual(mine, full.slice(full.length - mine.length), `job ${id}`);
      }
      // The fan-out: dtq saw one watch per job, not one per subscriber.
      const metrics = await (await fetch(`${serve.url}/-/gateway/metrics`)).text();
      assert.match(metrics, /dtq_gateway_subscriptions 0/);
    } finally {
      await provider.reset();
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

describe('restarts', () => {
  test('a subscription outlives a restart of dtq serve, reconnecting', async () => {
    const data = tempDir();
    const restPort = await freePort();
    const graphqlPort = await freePort();
    const options = {
      providerUrl: provider.url,
      dataDir: data.dir,
      listen: `127.0.0.1:${restPort}`,
      graphqlListen: `127.0.0.1:${graphqlPort}`,
      args: ['--drain-grace-ms', '100', '--only', 'weather'],
    };
    let serve = await DtqServe.start(options);
    const client = wsClient(serve.url, { retry: true });
    try {
      // The forecast hangs long enough for the restart to land mid-job.
      await provider.fault({ kind: 'latency', path: '/v1/forecast', delay_ms: 4000, times: 1 });
      const id = await submit(serve.url, 'weather');
      const watched = subscribe(client, JOB_UPDATED, { id });
      const changes = subscribe(client, 'subscription { jobChanges { watching } }');
      await eventually(() => statuses(watched.events).some((s) => s.state === 'RUNNING'), { what: 'the job to run' });
      await eventually(() => changes.events.length > 0, { what: 'the watch of every job' });
      await serve.stop();
      serve = await DtqServe.start(options);
      const list = statuses(await watched.done);
      // Established again after the restart: a client re-reads its list then.
      await eventually(() => changes.events.filter((e) => e.data.jobChanges.watching).length === 2, {
        what: 'the watch of every job to be established again',
      });
      changes.unsubscribe();
      assert.equal(list.at(-1).state, 'COMPLETED', JSON.stringify(list));
      for (let i = 1; i < list.length; i += 1) assert.ok(list[i].progressPercent >= list[i - 1].progressPercent, JSON.stringify(list));
    } finally {
      await client.dispose();
      await serve.stop();
      await provider.reset();
      data.remove();
    }
  });

  test('the gateway itself is restarted by serve when it dies, on the same port', async () => {
    const data = tempDir();
    const serve = await DtqServe.start({ providerUrl: provider.url, dataDir: data.dir, args: ['--only', 'quote'] });
    try {
      const { body } = await gql(serve.url, '{ jobTypes { jobType } }');
      assert.equal(body.data.jobTypes.length, 1);
      // serve's one child named node is its gateway.
      const child = Number(execFileSync('pgrep', ['-P', String(serve.child.pid), '-x', 'node'], { encoding: 'utf8' }).trim());
      process.kill(child, 'SIGKILL');
      await eventually(async () => {
        try {
          return (await gql(serve.url, '{ jobTypes { jobType } }')).body.data?.jobTypes.length === 1;
        } catch {
          return false;
        }
      }, { what: 'the gateway to come back' });
      assert.match(serve.log(), /the GraphQL gateway was killed by signal 9; restarting it/);
    } finally {
      await serve.stop();
      data.remove();
    }
  });
});
