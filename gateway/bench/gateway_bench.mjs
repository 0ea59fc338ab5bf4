#!/usr/bin/env node
// The latency the GraphQL gateway adds (docs/graphql.md, "Bench"), against
// the real `dtq serve` and its supervised gateway with the fake provider:
//   submit: SubmitJob straight to dtq's gRPC vs the submitJob mutation
//           through the gateway (HTTP keep-alive), one at a time;
//   delivery: each status change of a job as seen by a direct gRPC WatchJob
//           and by a jobUpdated subscription over WebSocket on the same job,
//           the difference of their arrival times;
//   fan-out: N subscribers of one job; time from the terminal state reaching
//           the first to reaching the last.
// Prints figures; asserts nothing.
//   node gateway/bench/gateway_bench.mjs [BUILD_DIR]   (default build/default)
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
process.env.DTQ_BUILD_DIR ??= path.resolve(process.argv[2] ?? path.join(repo, 'build/default'));
const harness = await import(path.join(repo, 'tests/graphql/harness.mjs'));
const { config, DtqServe, FakeProvider, gatewayRequire, JOB_UPDATED, submit, subscribe, tempDir, wsClient } = harness;
const grpc = gatewayRequire('@grpc/grpc-js');
const protoLoader = gatewayRequire('@grpc/proto-loader');

const SUBMITS = Number(process.env.BENCH_SUBMITS ?? 1000);
const WATCHED_JOBS = Number(process.env.BENCH_WATCHED_JOBS ?? 200);
const FANOUT = (process.env.BENCH_FANOUT ?? '1000,5000,10000').split(',').map(Number);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function summary(name, samplesMs) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const f = (v) => `${(v * 1000).toFixed(0)} us`.padStart(9);
  console.log(`${name.padEnd(44)} p50 ${f(percentile(sorted, 50))}  p99 ${f(percentile(sorted, 99))}  (n=${sorted.length})`);
  return sorted;
}

const provider = await FakeProvider.start();
const data = tempDir('dtq-gateway-bench-');
const serve = await DtqServe.start({
  providerUrl: provider.url,
  dataDir: data.dir,
  args: ['--submit-rate', '0', '--grpc-listen', '127.0.0.1:0', '--max-streams', '100000'],
});
// The gateway's readiness answer names the gRPC target it uses.
const ready = await (await fetch(`${serve.url}/-/gateway/readyz`)).json();
const definition = protoLoader.loadSync(config.protoFile, { keepCase: true, longs: Number, enums: String, defaults: true });
const { JobService } = grpc.loadPackageDefinition(definition).dtq.v1;
const direct = new JobService(ready.grpc_target, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
metadata.set('authorization', `Bearer ${config.token}`);
const grpcSubmit = (request) =>
  new Promise((resolve, reject) => direct.SubmitJob(request, metadata, (e, r) => (e ? reject(e) : resolve(r))));

console.log(`dtq serve with its gateway at ${serve.url}; gRPC ${ready.grpc_target}\n`);

// --- submit
const http = await import('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const body = JSON.stringify({
  query: 'mutation($i: SubmitJobInput!) { submitJob(input: $i) { jobId } }',
  variables: { i: { jobType: 'quote', payload: {} } },
});
const url = new URL(`${serve.url}/graphql`);
const postGraphql = () =>
  new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${config.token}` } },
      (response) => {
        response.resume();
        response.on('end', resolve);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
const viaGrpc = [];
const viaGateway = [];
for (let i = 0; i < 100; i += 1) {
  await grpcSubmit({ job_type: 'quote', payload_json: '{}' });
  await postGraphql();
}
for (let i = 0; i < SUBMITS; i += 1) {
  // Interleaved, so that both see the same load on dtq.
  let t = performance.now();
  await grpcSubmit({ job_type: 'quote', payload_json: '{}' });
  viaGrpc.push(performance.now() - t);
  t = performance.now();
  await postGraphql();
  viaGateway.push(performance.now() - t);
}
const g = summary('submit, gRPC straight to dtq', viaGrpc);
const q = summary('submit, GraphQL mutation through the gateway', viaGateway);
console.log(`${'  added by the gateway'.padEnd(44)} p50 ${((percentile(q, 50) - percentile(g, 50)) * 1000).toFixed(0)} us  p99 ${((percentile(q, 99) - percentile(g, 99)) * 1000).toFixed(0)} us\n`);

// --- delivery
const client = wsClient(serve.url);
const added = [];
for (let n = 0; n < WATCHED_JOBS; n += 1) {
  await provider.fault({ kind: 'latency', path: '/v1/forecast', delay_ms: 50, times: 1 });
  const id = await submit(serve.url, 'weather');
  const seenGrpc = new Map();
  const seenWs = new Map();
  const key = (s) => `${s.state}/${s.progress}`;
  const stream = direct.WatchJob({ job_id: id }, metadata);
  const grpcDone = new Promise((resolve) => {
    stream.on('data', (s) => seenGrpc.set(key({ state: s.state.replace('JOB_STATE_', ''), progress: s.progress_percent }), performance.now()));
    stream.on('end', resolve);
    stream.on('error', resolve);
  });
  const watch = subscribe(client, JOB_UPDATED, { id });
  const originalPush = watch.events.push.bind(watch.events);
  watch.events.push = (event) => {
    const s = event.data?.jobUpdated;
    if (s) seenWs.set(key({ state: s.state, progress: s.progressPercent }), performance.now());
    return originalPush(event);
  };
  await Promise.all([grpcDone, watch.done]);
  // The snapshot is skipped: the two watches began at different moments.
  let first = true;
  for (const [k, at] of seenGrpc) {
    if (first) {
      first = false;
      continue;
    }
    if (seenWs.has(k)) added.push(seenWs.get(k) - at);
  }
}
summary('delivery: added by the gateway, per event', added);
await client.dispose();

// --- fan-out
console.log('');
for (const subscribers of FANOUT) {
  await provider.fault({ kind: 'latency', path: '/v1/forecast', delay_ms: 1000 + subscribers / 5, times: 1 });
  const id = await submit(serve.url, 'weather');
  const clients = Array.from({ length: Math.max(1, Math.ceil(subscribers / 500)) }, () => wsClient(serve.url));
  const lastAt = [];
  const watches = [];
  const started = performance.now();
  for (let i = 0; i < subscribers; i += 1) {
    const watch = subscribe(clients[i % clients.length], JOB_UPDATED, { id });
    watch.done.then(() => lastAt.push(performance.now()));
    watches.push(watch.done);
  }
  const results = await Promise.allSettled(watches);
  const failed = results.filter((r) => r.status === 'rejected').length;
  lastAt.sort((a, b) => a - b);
  console.log(
    `fan-out to ${String(subscribers).padStart(6)} subscribers of one job: the end reached all within ` +
      `${(lastAt.at(-1) - lastAt[0]).toFixed(1)} ms (${failed} failed; ${((performance.now() - started) / 1000).toFixed(1)} s in all)`,
  );
  await Promise.all(clients.map((c) => c.dispose()));
}

direct.close();
await serve.stop();
await provider.stop();
data.remove();
process.exit(0);
