// The BullMQ side of `make bench` (docs/benchmarks.md): the work of dtq's
// engine_bench, done by BullMQ on Redis. No-op jobs that report progress
// once (50%) and return {}, enqueued in batches with addBulk while the
// workers already run, as engine_bench enqueues while its engine runs.
// Prints the same lines as engine_bench, so that scripts/run-bench.sh reads
// both the same way.
//
//   node bench.js --port P [--jobs N] [--concurrency C] [--batch B] [--workers W]
//
// C is the total number of jobs in flight, as engine_bench's --concurrency:
// W worker processes (default 1) of C/W each. The workers run in processes
// of their own (forked from this one), as BullMQ is deployed: Node.js runs
// one thread, and a producer sharing it with the workers would slow both.
// Each worker counts its completed jobs and their latency (submit -> the
// worker's `completed` event, which fires once the job is moved to the
// completed set) and reports them here every 50 ms.
//
// The queue is fresh each run (a new name); the Redis server is the
// caller's (scripts/bench/redis.sh), and this script only reads its
// persistence settings back to print them.
'use strict';

const { fork } = require('node:child_process');
const { Queue, Worker } = require('bullmq');
const bullmqVersion = require('bullmq/package.json').version;

function parse(argv) {
  const options = { port: 0, jobs: 200000, concurrency: 32, batch: 500, workers: 1, queue: '', role: 'main' };
  for (let i = 2; i + 1 < argv.length; i += 2) {
    const flag = argv[i].replace(/^--/, '');
    if (!(flag in options)) throw new Error(`unknown flag --${flag}`);
    options[flag] = typeof options[flag] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!options.port) throw new Error('--port is required (the Redis server of scripts/bench/redis.sh)');
  return options;
}

function connection(options) {
  // maxRetriesPerRequest: null is what BullMQ requires of a worker's connection.
  return { host: '127.0.0.1', port: options.port, maxRetriesPerRequest: null };
}

async function runWorker(options) {
  let done = 0;
  let latencies = [];
  const worker = new Worker(
    options.queue,
    async (job) => {
      await job.updateProgress(50);
      return {};
    },
    { connection: connection(options), concurrency: options.concurrency },
  );
  worker.on('completed', (job) => {
    done += 1;
    latencies.push(Date.now() - job.timestamp);
  });
  worker.on('error', (error) => console.error(`bullmq worker: ${error.message}`));
  await worker.waitUntilReady();
  const report = setInterval(() => {
    if (done === 0) return;
    process.send({ done, latencies });
    done = 0;
    latencies = [];
  }, 50);
  // The main process is gone (killed, or timed out by run-bench.sh): so are we.
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (message) => {
    if (message !== 'stop') return;
    clearInterval(report);
    if (done > 0) process.send({ done, latencies });
    await worker.close();
    process.exit(0);
  });
  process.send('ready');
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.floor(p * (sorted.length - 1))];
}

async function redisSettings(queue) {
  const client = await queue.client;
  const [, appendonly] = await client.config('GET', 'appendonly');
  const [, appendfsync] = await client.config('GET', 'appendfsync');
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  return { appendonly, appendfsync, version };
}

async function main() {
  const options = parse(process.argv);
  if (options.role === 'worker') return runWorker(options);

  options.queue = `bench-${process.pid}-${Date.now()}`;
  const queue = new Queue(options.queue, { connection: connection(options) });
  const redis = await redisSettings(queue);
  const perWorker = Math.max(1, Math.floor(options.concurrency / options.workers));

  let completed = 0;
  const latencies = [];
  let allDone;
  const finished = new Promise((resolve) => (allDone = resolve));
  const children = [];
  const ready = [];
  for (let w = 0; w < options.workers; ++w) {
    const child = fork(__filename, [
      '--role', 'worker', '--queue', options.queue, '--port', String(options.port),
      '--concurrency', String(perWorker),
    ]);
    ready.push(new Promise((resolve) => {
      // A worker that dies before the end would leave this run waiting forever.
      child.once('exit', (code, signal) => {
        console.error(`bullmq bench: a worker process exited (${code ?? signal}) before the run ended`);
        process.exit(1);
      });
      child.on('message', (message) => {
        if (message === 'ready') return resolve();
        completed += message.done;
        for (const l of message.latencies) latencies.push(l);
        if (completed >= options.jobs) allDone();
      });
    }));
    children.push(child);
  }
  await Promise.all(ready);

  const start = process.hrtime.bigint();
  for (let first = 0; first < options.jobs; first += options.batch) {
    const count = Math.min(options.batch, options.jobs - first);
    const batch = new Array(count);
    for (let i = 0; i < count; ++i) batch[i] = { name: 'noop', data: {} };
    await queue.addBulk(batch);
  }
  const enqueued = process.hrtime.bigint();
  await finished;
  const end = process.hrtime.bigint();

  for (const child of children) {
    child.removeAllListeners('exit');
    child.send('stop');
  }
  await Promise.all(children.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
  })));
  await queue.obliterate({ force: true });
  await queue.close();

  const seconds = Number(end - start) / 1e9;
  const enqueueSeconds = Number(enqueued - start) / 1e9;
  latencies.sort((a, b) => a - b);
  console.log(`BullMQ ${bullmqVersion} on Redis ${redis.version}, no-op jobs with one progress update each`);
  console.log(`  redis                127.0.0.1:${options.port}, appendonly ${redis.appendonly}, appendfsync ${redis.appendfsync}`);
  console.log(`  jobs                 ${options.jobs} (concurrency ${options.concurrency}: ${options.workers} worker process(es) of ${perWorker}, enqueue addBulk batches of ${options.batch})`);
  console.log(`  durable enqueue      ${(options.jobs / enqueueSeconds).toFixed(0)} jobs/s`);
  console.log(`  submit -> complete   ${(options.jobs / seconds).toFixed(0)} jobs/s`);
  console.log(`  latency p50          ${percentile(latencies, 0.5).toFixed(2)} ms`);
  console.log(`  latency p99          ${percentile(latencies, 0.99).toFixed(2)} ms`);
}

main().catch((error) => {
  console.error(`bullmq bench: ${error.stack || error.message}`);
  process.exit(1);
});
