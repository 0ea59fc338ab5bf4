// The real thing for the GraphQL tests: the recorded fake provider, the real
// `dtq serve` with the shipped plugins and its supervised gateway, and a
// graphql-ws client over a real WebSocket. Paths come from the environment
// (the ctest entries set them) with defaults for a `make` build.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const build = process.env.DTQ_BUILD_DIR ?? path.join(repo, 'build/default');
// The gateway's own packages: the client side of graphql-ws, ws, graphql.
export const gatewayRequire = createRequire(path.join(repo, 'gateway/package.json'));
const { createClient } = gatewayRequire('graphql-ws');
const WebSocket = gatewayRequire('ws');

export const config = {
  repo,
  dtq: process.env.DTQ_BIN ?? path.join(build, 'bin/dtq'),
  pluginDir: process.env.DTQ_PLUGIN_DIR ?? path.join(build, 'plugins'),
  gateway: path.join(repo, 'gateway/src/main.mjs'),
  schemaFile: path.join(repo, 'gateway/schema.graphql'),
  protoFile: path.join(repo, 'proto/dtq/v1/jobs.proto'),
  fakeProvider: path.join(repo, 'tests/fake_provider/fake_provider.py'),
  token: 'graphql-test-token-7d41',
};

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// Spawns a server; resolves once every line in `wanted` (name -> regexp) was
// printed on stdout, with each one's match.
function startProcess(command, args, { env, wanted, name }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const stderr = [];
    child.stderr.on('data', (chunk) => {
      stderr.push(chunk);
      if (process.env.GRAPHQL_TEST_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
    });
    const found = {};
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 30 s:\n${Buffer.concat(stderr)}`));
    }, 30_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      for (const [key, pattern] of Object.entries(wanted)) {
        const match = pattern.exec(line);
        if (match) found[key] = match;
      }
      if (Object.keys(found).length === Object.keys(wanted).length && timer) {
        clearTimeout(timer);
        resolve({ child, found, stderr });
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${Buffer.concat(stderr)}`));
    });
  });
}

export async function stopProcess(child, signal = 'SIGTERM', timeoutMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class FakeProvider {
  static async start() {
    const { child, found } = await startProcess('python3', [config.fakeProvider, '--port', '0'], {
      wanted: { port: /^LISTENING (\d+)$/ },
      name: 'fake provider',
    });
    return new FakeProvider(child, `http://127.0.0.1:${found.port[1]}`);
  }

  constructor(child, url) {
    this.child = child;
    this.url = url;
  }

  async fault(rule) {
    const response = await fetch(`${this.url}/__faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(rule),
    });
    if (response.status !== 201) throw new Error(`fault refused: ${response.status} ${await response.text()}`);
  }

  async reset() {
    await fetch(`${this.url}/__faults`, { method: 'DELETE' });
  }

  stop() {
    return stopProcess(this.child);
  }
}

export function tempDir(prefix = 'dtq-graphql-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// `dtq serve` with its gateway. `listen` may name a port to come back on.
export class DtqServe {
  static async start({ providerUrl, dataDir, listen = '127.0.0.1:0', graphqlListen, args = [], env = {} }) {
    const { child, found, stderr } = await startProcess(
      config.dtq,
      [
        '--plugin-dir', config.pluginDir,
        '--data-dir', dataDir,
        '--log-level', 'warn',
        'serve', '--listen', listen,
        '--graphql', 'on', '--gateway', config.gateway,
        ...(graphqlListen ? ['--graphql-listen', graphqlListen] : []),
        ...args,
      ],
      {
        env: { DTQ_HTTP_BASE_URL: providerUrl, DTQ_API_TOKEN: config.token, ...env },
        wanted: { rest: /^LISTENING (http:\/\/\S+)$/, graphql: /^GRAPHQL_LISTENING (http:\/\/\S+)$/ },
        name: 'dtq serve',
      },
    );
    return new DtqServe(child, found.rest[1], found.graphql[1], stderr);
  }

  constructor(child, restUrl, graphqlUrl, stderr) {
    this.child = child;
    this.restUrl = restUrl;
    this.url = graphqlUrl;
    this.stderr = stderr;
  }

  log() {
    return Buffer.concat(this.stderr).toString();
  }

  stop(signal) {
    return stopProcess(this.child, signal);
  }
}

// A gateway alone (distributed mode's shape: no upstream).
export async function startGateway(env) {
  const { child, found } = await startProcess('node', [config.gateway], {
    env: { DTQ_GATEWAY_LISTEN: '127.0.0.1:0', ...env },
    wanted: { url: /^GATEWAY_LISTENING (http:\/\/\S+)$/ },
    name: 'gateway',
  });
  return { child, url: found.url[1], stop: () => stopProcess(child) };
}

// One GraphQL request over HTTP: { status, body }.
export async function gql(url, query, { variables, key = config.token, raw, headers = {} } = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    },
    body: raw ?? JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: response.status, body };
}

export function codes(body) {
  return (body.errors ?? []).map((e) => e.extensions?.code);
}

// A graphql-ws client over a real WebSocket; retries forever when `retry`.
export function wsClient(url, { key = config.token, retry = false } = {}) {
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    retryAttempts: retry ? 1_000 : 0,
    retryWait: async () => new Promise((resolve) => setTimeout(resolve, 200)),
    shouldRetry: () => retry,
    lazy: true,
  });
}

// Subscribes; `events` fills as they arrive; `done` resolves with them at
// completion, or rejects with the error the server ended it with.
export function subscribe(client, query, variables) {
  const events = [];
  let unsubscribe;
  const done = new Promise((resolve, reject) => {
    unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (value) => events.push(value),
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => resolve(events),
      },
    );
  });
  return { events, done, unsubscribe };
}

export async function eventually(check, { timeoutMs = 20_000, what = 'the condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const PAYLOADS = {
  weather: { city: 'Austin', country_code: 'US' },
  quote: {},
  exchange_rate: { base: 'USD', target: 'EUR', amount: 10 },
  github_user: { username: 'octocat' },
};

export const SUBMIT = `mutation Submit($input: SubmitJobInput!) {
  submitJob(input: $input) { jobId traceId status { jobId state progressPercent } }
}`;

export const JOB_UPDATED = `subscription Watch($id: ID!) {
  jobUpdated(id: $id) { jobId jobType state progressPercent message errorCode updatedAt }
}`;

export async function submit(url, jobType, payload = PAYLOADS[jobType], key) {
  const { body } = await gql(url, SUBMIT, { variables: { input: { jobType, payload } }, key });
  if (!body.data?.submitJob) throw new Error(`submit ${jobType} failed: ${JSON.stringify(body)}`);
  return body.data.submitJob.jobId;
}
