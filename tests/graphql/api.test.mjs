// The schema and the resolvers against the real `dtq serve` and its
// gateway: the committed schema is what the gateway serves and covers the
// gRPC contract; every query and mutation; every error code the gateway can
// answer; abusive requests answered with GraphQL errors, never a crash.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  codes,
  config,
  DtqServe,
  FakeProvider,
  gatewayRequire,
  gql,
  JOB_UPDATED,
  startGateway,
  submit,
  subscribe,
  tempDir,
  wsClient,
  eventually,
} from './harness.mjs';

const graphql = gatewayRequire('graphql');

let provider;
let serve;
let data;
let readKey;

before(async () => {
  provider = await FakeProvider.start();
  data = tempDir();
  readKey = execFileSync(config.dtq, ['--data-dir', data.dir, 'keys', 'create', '--name', 'reader', '--scope', 'read'], {
    encoding: 'utf8',
  }).trim();
  serve = await DtqServe.start({
    providerUrl: provider.url,
    dataDir: data.dir,
    env: { DTQ_GATEWAY_INTROSPECTION: 'true' },
  });
});

after(async () => {
  await serve?.stop();
  await provider?.stop();
  data?.remove();
});

describe('the schema', () => {
  test('the committed schema file is the one the gateway serves', async () => {
    const { body } = await gql(serve.url, graphql.getIntrospectionQuery());
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const served = graphql.printSchema(graphql.lexicographicSortSchema(graphql.buildClientSchema(body.data)));
    const committed = graphql.printSchema(
      graphql.lexicographicSortSchema(graphql.buildSchema(fs.readFileSync(config.schemaFile, 'utf8'))),
    );
    assert.equal(served, committed, 'gateway/schema.graphql drifted from the served schema');
  });

  test('it covers the gRPC contract: every JobStatus and JobTypeInfo field, every JobState', () => {
    const proto = fs.readFileSync(config.protoFile, 'utf8');
    const schema = graphql.buildSchema(fs.readFileSync(config.schemaFile, 'utf8'));
    const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    const renamed = { payload_schema_json: 'payloadSchema' };
    const fieldsOf = (message) => {
      const block = new RegExp(`message ${message} \\{([^}]*)\\}`).exec(proto)[1];
      return [...block.matchAll(/^\s*\w+ (\w+) = \d+;/gm)].map((m) => m[1]);
    };
    for (const [message, type] of [['JobStatus', 'JobStatus'], ['JobTypeInfo', 'JobType']]) {
      const fields = schema.getType(type).getFields();
      for (const field of fieldsOf(message)) {
        const name = renamed[field] ?? camel(field);
        assert.ok(name in fields, `${type}.${name} (proto ${message}.${field}) is missing`);
      }
    }
    const states = [...proto.matchAll(/JOB_STATE_(\w+) = [1-9]/g)].map((m) => m[1]);
    const values = schema.getType('JobState').getValues().map((v) => v.name);
    assert.deepEqual(values.sort(), states.sort());
  });

  test('introspection is off unless enabled', async () => {
    const gateway = await startGateway({ DTQ_GRPC_TARGET: '127.0.0.1:1' });
    try {
      const { body } = await gql(gateway.url, '{ __schema { queryType { name } } }');
      assert.ok(codes(body).includes('introspection_disabled'), JSON.stringify(body));
    } finally {
      await gateway.stop();
    }
  });
});

describe('queries and mutations', () => {
  test('jobTypes lists the four shipped types with their schemas and health', async () => {
    const { body } = await gql(
      serve.url,
      '{ jobTypes { jobType name payloadSchema pools healthy concurrency isolation runnerCrashes crashLooping lastCrash } }',
    );
    const types = body.data.jobTypes.map((t) => t.jobType);
    assert.deepEqual(types, ['exchange_rate', 'github_user', 'quote', 'weather']);
    for (const type of body.data.jobTypes) {
      assert.equal(type.payloadSchema.type, 'object');
      assert.equal(type.healthy, true);
      assert.equal(type.isolation, 'process');
      assert.equal(type.runnerCrashes, 0);
      assert.equal(type.crashLooping, false);
      assert.equal(type.lastCrash, null);
    }
  });

  test('submitJob, then job(id) with its status and, once ended, its result', async () => {
    const id = await submit(serve.url, 'github_user');
    const job = await eventually(async () => {
      const { body } = await gql(serve.url, `{ job(id: "${id}") { id status { state progressPercent jobType } result { finalState output input attempts } } }`);
      return body.data.job.result ? body.data.job : null;
    }, { what: 'the result' });
    assert.equal(job.status.state, 'COMPLETED');
    assert.equal(job.status.jobType, 'github_user');
    assert.equal(job.result.finalState, 'COMPLETED');
    assert.equal(job.result.input.username, 'octocat');
    assert.equal(typeof job.result.output, 'object');
  });

  test('job(id).history is the stored history, oldest first, after the job ended', async () => {
    const id = await submit(serve.url, 'quote');
    const events = await eventually(async () => {
      const { body } = await gql(
        serve.url,
        `{ job(id: "${id}") { history { at kind jobType attempt worker errorCode relatedJobId detail } } }`,
      );
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      const history = body.data.job.history;
      return history.some((e) => e.kind === 'completed') ? history : null;
    }, { what: 'the completed event' });
    assert.deepEqual(events.map((e) => e.kind), ['submitted', 'started', 'completed']);
    assert.equal(events[0].jobType, 'quote');
    assert.equal(events[0].worker, null);
    assert.equal(events[1].attempt, 1);
    assert.match(events[1].worker, /\/\d+/);
    assert.ok(events.every((e, i) => i === 0 || events[i - 1].at <= e.at), 'oldest first');
    assert.match(events[2].at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test('submitJob takes a priority, and the job and its status show it', async () => {
    const { body } = await gql(
      serve.url,
      'mutation { submitJob(input: {jobType: "quote", payload: {}, priority: HIGH}) { jobId status { priority } } }',
    );
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.equal(body.data.submitJob.status.priority, 'HIGH');
    const id = body.data.submitJob.jobId;
    const read = await gql(serve.url, `{ job(id: "${id}") { priority status { priority } } }`);
    assert.equal(read.body.data.job.priority, 'HIGH');
    assert.equal(read.body.data.job.status.priority, 'HIGH');
    const plain = await submit(serve.url, 'quote');
    const normal = await gql(serve.url, `{ job(id: "${plain}") { priority } }`);
    assert.equal(normal.body.data.job.priority, 'NORMAL');
    const refused = await gql(serve.url, 'mutation { submitJob(input: {jobType: "quote", payload: {}, priority: URGENT}) { jobId } }');
    assert.ok(refused.body.errors?.length, 'an unknown priority is refused');
  });

  test('jobs pages through a connection, filtered', async () => {
    for (let i = 0; i < 3; i += 1) await submit(serve.url, 'quote');
    const first = await gql(serve.url, '{ jobs(jobType: "quote", first: 2) { nodes { jobId jobType } edges { node { jobId } } pageInfo { hasNextPage endCursor } } }');
    const page = first.body.data.jobs;
    assert.equal(page.nodes.length, 2);
    assert.ok(page.nodes.every((n) => n.jobType === 'quote'));
    assert.equal(page.pageInfo.hasNextPage, true);
    const second = await gql(serve.url, 'query($after: String) { jobs(jobType: "quote", first: 2, after: $after) { nodes { jobId } } }', {
      variables: { after: page.pageInfo.endCursor },
    });
    const seen = new Set(page.nodes.map((n) => n.jobId));
    assert.ok(second.body.data.jobs.nodes.length >= 1);
    assert.ok(second.body.data.jobs.nodes.every((n) => !seen.has(n.jobId)));
  });

  test('submitJob with delaySeconds is SCHEDULED with its runAt, listed, then runs when due', async () => {
    const { body } = await gql(
      serve.url,
      'mutation { submitJob(input: {jobType: "quote", payload: {}, delaySeconds: 2}) { jobId status { state runAt } } }',
    );
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const { jobId, status } = body.data.submitJob;
    assert.equal(status.state, 'SCHEDULED');
    assert.ok(Date.parse(status.runAt) > Date.now(), `runAt ${status.runAt} is in the future`);
    const read = await gql(serve.url, `{ job(id: "${jobId}") { runAt status { state runAt } } }`);
    assert.equal(read.body.data.job.status.state, 'SCHEDULED');
    assert.equal(read.body.data.job.runAt, status.runAt);
    const listed = await gql(serve.url, '{ jobs(state: SCHEDULED) { nodes { jobId runAt } } }');
    assert.ok(listed.body.data.jobs.nodes.some((n) => n.jobId === jobId && n.runAt === status.runAt));
    await eventually(
      async () => (await gql(serve.url, `{ job(id: "${jobId}") { status { state } } }`)).body.data.job.status.state === 'COMPLETED',
      { what: 'the scheduled job to complete' },
    );
  });

  test('a scheduled job is cancelled before it runs; runAt and delaySeconds together are refused', async () => {
    const { body } = await gql(
      serve.url,
      'mutation { submitJob(input: {jobType: "quote", payload: {}, runAt: "2099-01-01T00:00:00Z"}) { jobId status { state } } }',
    );
    assert.ok(body.errors?.length, 'over 365 days ahead is refused');
    const later = new Date(Date.now() + 3600_000).toISOString();
    const made = await gql(serve.url, `mutation { submitJob(input: {jobType: "quote", payload: {}, runAt: "${later}"}) { jobId } }`);
    assert.equal(made.body.errors, undefined, JSON.stringify(made.body.errors));
    const id = made.body.data.submitJob.jobId;
    const cancelled = await gql(serve.url, `mutation { cancelJob(id: "${id}") { state } }`);
    assert.equal(cancelled.body.data.cancelJob.state, 'CANCELLED');
    const both = await gql(
      serve.url,
      `mutation { submitJob(input: {jobType: "quote", payload: {}, runAt: "${later}", delaySeconds: 5}) { jobId } }`,
    );
    assert.equal(both.body.errors?.[0]?.extensions?.code, 'invalid_request');
  });

  test('cancelJob cancels a queued job', async () => {
    await provider.fault({ kind: 'latency', path: '/users/slowcat', delay_ms: 3000 });
    const running = await submit(serve.url, 'github_user', { username: 'slowcat' });
    const { body } = await gql(serve.url, `mutation { cancelJob(id: "${running}") { jobId state } }`);
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.equal(body.data.cancelJob.jobId, running);
    await provider.reset();
  });

  test('the REST API and the UI\'s files are passed through the same origin', async () => {
    const health = await fetch(`${serve.url}/healthz`);
    assert.equal(health.status, 200);
    const list = await fetch(`${serve.url}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${config.token}` } });
    assert.equal(list.status, 200);
    assert.ok(Array.isArray((await list.json()).jobs));
    const own = await fetch(`${serve.url}/-/gateway/metrics`);
    assert.match(await own.text(), /dtq_gateway_graphql_operations_total/);
  });
});

describe('every error code', () => {
  const expectCode = async (query, code, options) => {
    const { body } = await gql(serve.url, query, options);
    assert.ok(codes(body).includes(code), `expected ${code}, got ${JSON.stringify(body)}`);
    return body;
  };

  test('invalid_payload carries the plugin\'s field errors as JSON Pointers', async () => {
    const body = await expectCode('mutation { submitJob(input: {jobType: "weather", payload: {city: ""}}) { jobId } }', 'invalid_payload');
    const details = body.errors[0].extensions.details;
    assert.ok(details.some((d) => d.field === '/city'), JSON.stringify(details));
  });
  test('invalid_request: a payload that is not an object', () =>
    expectCode('mutation { submitJob(input: {jobType: "weather", payload: [1]}) { jobId } }', 'invalid_request'));
  test('invalid_argument: a page size out of range', () => expectCode('{ jobs(first: 0) { nodes { jobId } } }', 'invalid_argument'));
  test('malformed_id', () => expectCode('{ job(id: "nope") { id } }', 'malformed_id'));
  test('unknown_job', () => expectCode('{ job(id: "1b4e28ba-2fa1-41d2-883f-0016d3cca427") { id } }', 'unknown_job'));
  test('unknown_job_type', () =>
    expectCode('mutation { submitJob(input: {jobType: "nope", payload: {}}) { jobId } }', 'unknown_job_type'));
  test('conflict: cancelling a job that ended', async () => {
    const id = await submit(serve.url, 'quote');
    await eventually(async () => (await gql(serve.url, `{ job(id: "${id}") { result { finalState } } }`)).body.data.job.result);
    await expectCode(`mutation { cancelJob(id: "${id}") { state } }`, 'conflict');
  });
  test('unauthorized: a mutation without a key, or with an unknown one', async () => {
    await expectCode('mutation { submitJob(input: {jobType: "quote", payload: {}}) { jobId } }', 'unauthorized', { key: '' });
    await expectCode('{ jobTypes { name } }', 'unauthorized', { key: 'dtq_0000000000000000_bad' });
  });
  test('forbidden: a read key may not submit', () =>
    expectCode('mutation { submitJob(input: {jobType: "quote", payload: {}}) { jobId } }', 'forbidden', { key: readKey }));
  test('graphql_validation_failed, graphql_parse_failed, bad_request', async () => {
    await expectCode('{ nosuchfield }', 'graphql_validation_failed');
    await expectCode('{ jobTypes { ', 'graphql_parse_failed');
    const { status, body } = await gql(serve.url, null, { raw: '{"query": ' });
    assert.equal(status, 400);
    assert.deepEqual(codes(body), ['bad_request']);
  });
  test('timeout: dtq does not answer within the gateway\'s call deadline', async () => {
    const { grpc_target: target } = await (await fetch(`${serve.url}/-/gateway/readyz`)).json();
    const gateway = await startGateway({ DTQ_GRPC_TARGET: target, DTQ_GATEWAY_CALL_TIMEOUT_MS: '1' });
    try {
      const { body } = await gql(gateway.url, '{ jobTypes { name } }');
      assert.deepEqual(codes(body), ['timeout'], JSON.stringify(body));
    } finally {
      await gateway.stop();
    }
  });
  test('forbidden_host: /graphql answers to the same Host names as REST (DNS rebinding)', async () => {
    const http = await import('node:http');
    const post = (host) =>
      new Promise((resolve, reject) => {
        const url = new URL(`${serve.url}/graphql`);
        const request = http.request(
          { host: url.hostname, port: url.port, path: '/graphql', method: 'POST',
            headers: { host, 'content-type': 'application/json', authorization: `Bearer ${config.token}` } },
          (response) => {
            let text = '';
            response.on('data', (chunk) => (text += chunk));
            response.on('end', () => resolve({ status: response.statusCode, body: JSON.parse(text) }));
          },
        );
        request.on('error', reject);
        request.end(JSON.stringify({ query: '{ jobTypes { jobType } }' }));
      });
    const refused = await post('rebound.example:8081');
    assert.equal(refused.status, 403);
    assert.deepEqual(codes(refused.body), ['forbidden_host']);
    const served = await post(`localhost:${new URL(serve.url).port}`);
    assert.equal(served.status, 200);
  });
  test('unavailable: the dtq API cannot be reached', async () => {
    const gateway = await startGateway({ DTQ_GRPC_TARGET: '127.0.0.1:1', DTQ_GATEWAY_CALL_TIMEOUT_MS: '2000' });
    try {
      const { body } = await gql(gateway.url, '{ jobTypes { name } }');
      assert.ok(['unavailable', 'timeout'].includes(codes(body)[0]), JSON.stringify(body));
      const ready = await fetch(`${gateway.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
    } finally {
      await gateway.stop();
    }
  });
});

describe('limits: rate and open streams', () => {
  let small;
  let smallData;
  before(async () => {
    smallData = tempDir();
    small = await DtqServe.start({
      providerUrl: provider.url,
      dataDir: smallData.dir,
      args: ['--submit-rate', '1', '--max-streams', '1', '--only', 'quote'],
    });
  });
  after(async () => {
    await small?.stop();
    smallData?.remove();
  });

  test('rate_limited: over the submit rate', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => gql(small.url, 'mutation { submitJob(input: {jobType: "quote", payload: {}}) { jobId } }')),
    );
    assert.ok(answers.some((a) => codes(a.body).includes('rate_limited')), JSON.stringify(answers.map((a) => a.body)));
  });

  test('too_many_streams: past the open-stream limit', async () => {
    const client = wsClient(small.url);
    try {
      const first = subscribe(client, 'subscription { jobEvents { jobId } }');
      await eventually(async () => {
        const metrics = await (await fetch(`${small.url}/-/gateway/metrics`)).text();
        return /dtq_gateway_grpc_streams 1/.test(metrics);
      }, { what: 'the first stream to open' });
      // Open at dtq too, once it carries an event (the submit rate here is 1/s).
      await eventually(async () => {
        const { body } = await gql(small.url, 'mutation { submitJob(input: {jobType: "quote", payload: {}}) { jobId } }');
        return body.data?.submitJob;
      }, { what: 'a submit within the rate' });
      await eventually(() => first.events.length > 0, { what: 'the first stream\'s event' });
      const second = subscribe(client, 'subscription { jobEvents { jobId } }');
      await eventually(() => second.events.length > 0, { what: 'the refusal' });
      assert.deepEqual(codes(second.events[0]), ['too_many_streams']);
      first.unsubscribe();
    } finally {
      await client.dispose();
    }
  });
});

describe('abusive requests get GraphQL errors, never a crash', () => {
  test('too deep', async () => {
    const deep = '{ jobTypes { name { a { b { c { d { e { f { g { h } } } } } } } } } }';
    const { body } = await gql(serve.url, deep);
    assert.ok(codes(body).includes('query_too_deep'), JSON.stringify(body));
  });

  test('too complex: hundreds of aliases', async () => {
    const aliases = Array.from({ length: 400 }, (_, i) => `a${i}: jobTypes { jobType name payloadSchema }`).join(' ');
    const { body } = await gql(serve.url, `{ ${aliases} }`);
    assert.ok(codes(body).includes('query_too_complex'), JSON.stringify(body).slice(0, 500));
  });

  test('oversized body', async () => {
    const { status, body } = await gql(serve.url, null, { raw: JSON.stringify({ query: `{ jobTypes { name } } #${'x'.repeat(2 << 20)}` }) });
    assert.equal(status, 413);
    assert.deepEqual(codes(body), ['payload_too_large']);
  });

  test('malformed bodies', async () => {
    for (const raw of ['[]', '[{"query":"{ jobTypes { name } }"}]', '"text"', 'null', '{"query": 42}', '{}']) {
      const { status, body } = await gql(serve.url, null, { raw });
      assert.ok(status >= 400 && status < 500, `${raw}: ${status}`);
      assert.ok(codes(body).length > 0 && codes(body).every(Boolean), `${raw}: ${JSON.stringify(body)}`);
    }
  });

  test('over the WebSocket too: too deep, unknown fields, unauthenticated', async () => {
    const client = wsClient(serve.url, { key: '' });
    try {
      const deep = subscribe(client, 'subscription { jobEvents { jobId { a { b { c { d { e { f { g { h } } } } } } } } } }');
      await assert.rejects(deep.done, /query_too_deep/);
      const id = await submit(serve.url, 'quote');
      const anonymous = subscribe(client, JOB_UPDATED, { id });
      await anonymous.done;
      assert.deepEqual(codes(anonymous.events[0]), ['unauthorized'], JSON.stringify(anonymous.events));
    } finally {
      await client.dispose();
    }
    // The gateway still answers.
    const { body } = await gql(serve.url, '{ jobTypes { jobType } }');
    assert.equal(body.data.jobTypes.length, 4);
  });
});

test('--rest=off: GraphQL alone, the probes and metrics stay; stopping serve stops its gateway', async () => {
  const extra = tempDir();
  const other = await DtqServe.start({ providerUrl: provider.url, dataDir: extra.dir, args: ['--only', 'quote', '--rest', 'off'] });
  try {
    const auth = { authorization: `Bearer ${config.token}` };
    assert.equal((await fetch(`${other.restUrl}/v1/jobs`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${other.restUrl}/v1/jobs`, { method: 'POST', headers: auth })).status, 404);
    assert.equal((await fetch(`${other.url}/v1/job-types`, { headers: auth })).status, 404);
    assert.equal((await fetch(`${other.restUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${other.restUrl}/metrics`)).status, 200);
    const id = await submit(other.url, 'quote');
    const { body } = await gql(other.url, `{ job(id: "${id}") { id } }`);
    assert.equal(body.data.job.id, id);
  } finally {
    await other.stop();
    extra.remove();
  }
  await assert.rejects(fetch(`${other.url}/-/gateway/healthz`));
});

describe('idempotent submits', () => {
  const SUBMIT = `mutation($input: SubmitJobInput!) {
    submitJob(input: $input) { jobId traceId replayed status { jobId state } }
  }`;
  const submitKeyed = async (payload, idempotencyKey) =>
    (await gql(serve.url, SUBMIT, { variables: { input: { jobType: 'quote', payload, idempotencyKey } } })).body;

  test('the same idempotencyKey and request answer the first job, replayed', async () => {
    const key = `graphql-${Date.now()}`;
    const first = await submitKeyed({ max_length: 200 }, key);
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    assert.equal(first.data.submitJob.replayed, false);
    const again = await submitKeyed({ max_length: 200 }, key);
    assert.equal(again.errors, undefined, JSON.stringify(again.errors));
    assert.equal(again.data.submitJob.replayed, true);
    assert.equal(again.data.submitJob.jobId, first.data.submitJob.jobId);
    assert.equal(again.data.submitJob.traceId, first.data.submitJob.traceId);
    assert.equal(again.data.submitJob.status.jobId, first.data.submitJob.jobId);
    // Without a key, every submit is a new job.
    const unkeyed = await submitKeyed({ max_length: 200 }, undefined);
    assert.notEqual(unkeyed.data.submitJob.jobId, first.data.submitJob.jobId);
    assert.equal(unkeyed.data.submitJob.replayed, false);
  });

  test('idempotency_conflict: the key with another payload', async () => {
    const key = `graphql-conflict-${Date.now()}`;
    assert.equal((await submitKeyed({ max_length: 200 }, key)).errors, undefined);
    const body = await submitKeyed({ max_length: 100 }, key);
    assert.deepEqual(codes(body), ['idempotency_conflict'], JSON.stringify(body));
  });

  test('invalid_idempotency_key: over 255 characters, or empty', async () => {
    for (const key of ['k'.repeat(256), '']) {
      const body = await submitKeyed({ max_length: 200 }, key);
      assert.deepEqual(codes(body), ['invalid_idempotency_key'], JSON.stringify(body));
    }
  });
});

describe('dead letters and retries', () => {
  // github_user fails for good for a user the fake GitHub does not know.
  const UNKNOWN = { username: 'no-such-user-dtq' };
  const LETTERS = `query($type: String, $first: Int) {
    deadLetters(jobType: $type, first: $first) { jobId jobType traceId submittedAt payload error { code message } attempts failedAt replayedAs }
  }`;
  const letters = async (variables = { type: 'github_user' }) => {
    const { body } = await gql(serve.url, LETTERS, { variables });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data.deadLetters;
  };
  const failedFor = async (id) =>
    eventually(async () => (await letters()).find((l) => l.jobId === id), { what: `the dead letter of ${id}` });
  const mutate = async (query, variables, key) => {
    const { body } = await gql(serve.url, query, { variables, key });
    return body;
  };

  test('deadLetters lists a failed job with its error, attempts and payload', async () => {
    const id = await submit(serve.url, 'github_user', UNKNOWN);
    const letter = await failedFor(id);
    assert.equal(letter.jobType, 'github_user');
    assert.equal(letter.error.code, 'user_not_found');
    assert.ok(letter.attempts >= 1);
    assert.deepEqual(letter.payload, UNKNOWN);
    assert.ok(letter.failedAt && letter.submittedAt);
    assert.equal(letter.replayedAs, null);
    assert.ok((await letters({})).some((l) => l.jobId === id), 'listed among every type too');
    assert.equal((await letters({ type: 'github_user', first: 1 })).length, 1);
    const { body } = await gql(serve.url, LETTERS, { variables: { first: 0 } });
    assert.ok(codes(body).includes('invalid_argument'), JSON.stringify(body));
  });

  test('replayDeadLetter answers the new job, once; a read key is forbidden', async () => {
    const id = await submit(serve.url, 'github_user', UNKNOWN);
    await failedFor(id);
    const REPLAY = 'mutation($id: ID!) { replayDeadLetter(id: $id) }';
    assert.ok(codes(await mutate(REPLAY, { id }, readKey)).includes('forbidden'));
    const replayed = await mutate(REPLAY, { id });
    assert.equal(replayed.errors, undefined, JSON.stringify(replayed.errors));
    const newId = replayed.data.replayDeadLetter;
    assert.notEqual(newId, id);
    assert.equal((await failedFor(id)).replayedAs, newId);
    const { body } = await gql(serve.url, `{ job(id: "${newId}") { status { jobType traceId } } }`);
    assert.equal(body.data.job.status.jobType, 'github_user');
    assert.ok(codes(await mutate(REPLAY, { id })).includes('conflict'));
    assert.ok(codes(await mutate(REPLAY, { id: 'nope' })).includes('malformed_id'));
    assert.ok(codes(await mutate(REPLAY, { id: '1b4e28ba-2fa1-41d2-883f-0016d3cca427' })).includes('unknown_job'));
  });

  test('deleteDeadLetter forgets it; a second delete is unknown_job', async () => {
    const id = await submit(serve.url, 'github_user', UNKNOWN);
    await failedFor(id);
    const DELETE = 'mutation($id: ID!) { deleteDeadLetter(id: $id) }';
    assert.ok(codes(await mutate(DELETE, { id }, readKey)).includes('forbidden'));
    const deleted = await mutate(DELETE, { id });
    assert.equal(deleted.errors, undefined, JSON.stringify(deleted.errors));
    assert.equal(deleted.data.deleteDeadLetter, id);
    assert.ok(!(await letters()).some((l) => l.jobId === id));
    assert.ok(codes(await mutate(DELETE, { id })).includes('unknown_job'));
  });

  test('retryJob runs a failed job again; anything else is a conflict', async () => {
    const failed = await submit(serve.url, 'github_user', UNKNOWN);
    await failedFor(failed);
    const RETRY = 'mutation($id: ID!) { retryJob(id: $id) }';
    assert.ok(codes(await mutate(RETRY, { id: failed }, readKey)).includes('forbidden'));
    const retried = await mutate(RETRY, { id: failed });
    assert.equal(retried.errors, undefined, JSON.stringify(retried.errors));
    const newId = retried.data.retryJob;
    const job = await eventually(async () => {
      const { body } = await gql(serve.url, `{ job(id: "${newId}") { status { state } result { input } } }`);
      return body.data.job.result ? body.data.job : null;
    }, { what: 'the retry to end' });
    assert.equal(job.status.state, 'FAILED');
    assert.deepEqual(job.result.input, UNKNOWN);
    const fine = await submit(serve.url, 'quote');
    await eventually(async () => (await gql(serve.url, `{ job(id: "${fine}") { result { finalState } } }`)).body.data.job.result);
    assert.ok(codes(await mutate(RETRY, { id: fine })).includes('conflict'));
  });

  test('replayDeadLetters replays every one of the type not replayed yet', async () => {
    const ids = [await submit(serve.url, 'github_user', UNKNOWN), await submit(serve.url, 'github_user', UNKNOWN)];
    for (const id of ids) await failedFor(id);
    const ALL = 'mutation($type: String!) { replayDeadLetters(jobType: $type) { jobType replayed } }';
    assert.ok(codes(await mutate(ALL, { type: 'github_user' }, readKey)).includes('forbidden'));
    const all = await mutate(ALL, { type: 'github_user' });
    assert.equal(all.errors, undefined, JSON.stringify(all.errors));
    assert.equal(all.data.replayDeadLetters.jobType, 'github_user');
    assert.ok(all.data.replayDeadLetters.replayed >= 2, JSON.stringify(all.data));
    for (const id of ids) assert.notEqual((await failedFor(id)).replayedAs, null);
    assert.ok(codes(await mutate(ALL, { type: 'Not A Type' })).includes('invalid_argument'));
  });
});

describe('pausing job types', () => {
  const PAUSE = 'mutation($type: String!) { pauseJobType(jobType: $type) { jobType paused } }';
  const RESUME = 'mutation($type: String!) { resumeJobType(jobType: $type) { jobType paused } }';
  const mutate = async (query, variables, key) => (await gql(serve.url, query, { variables, key })).body;
  const quotePaused = async () => {
    const { body } = await gql(serve.url, '{ jobTypes { jobType paused } }');
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    return body.data.jobTypes.find((t) => t.jobType === 'quote').paused;
  };
  const state = async (id) => (await gql(serve.url, `{ job(id: "${id}") { status { state } } }`)).body.data.job.status.state;

  test('pauseJobType holds a type\'s jobs, queued, until resumeJobType', async () => {
    assert.equal(await quotePaused(), false);
    const paused = await mutate(PAUSE, { type: 'quote' });
    assert.equal(paused.errors, undefined, JSON.stringify(paused.errors));
    assert.deepEqual(paused.data.pauseJobType, { jobType: 'quote', paused: true });
    assert.equal(await quotePaused(), true);
    const held = await submit(serve.url, 'quote');
    // Another type's job runs to its end meanwhile: quote's idle workers had every chance.
    const other = await submit(serve.url, 'github_user', { username: 'no-such-user-dtq' });
    await eventually(async () => (await state(other)) === 'FAILED', { what: 'the other type\'s job to end' });
    assert.equal(await state(held), 'QUEUED');
    const resumed = await mutate(RESUME, { type: 'quote' });
    assert.equal(resumed.errors, undefined, JSON.stringify(resumed.errors));
    assert.deepEqual(resumed.data.resumeJobType, { jobType: 'quote', paused: false });
    assert.equal(await quotePaused(), false);
    await eventually(async () => (await state(held)) === 'COMPLETED', { what: 'the held job to complete' });
  });

  test('a read key is forbidden; an unknown type is unknown_job_type, a bad one invalid_argument', async () => {
    assert.ok(codes(await mutate(PAUSE, { type: 'quote' }, readKey)).includes('forbidden'));
    assert.ok(codes(await mutate(RESUME, { type: 'quote' }, readKey)).includes('forbidden'));
    assert.equal(await quotePaused(), false);
    assert.ok(codes(await mutate(PAUSE, { type: 'nope' })).includes('unknown_job_type'));
    assert.ok(codes(await mutate(RESUME, { type: 'Not A Type' })).includes('invalid_argument'));
  });
});
