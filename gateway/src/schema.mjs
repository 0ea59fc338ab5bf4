// The executable schema: gateway/schema.graphql (the committed contract)
// with its resolvers, each one gRPC call to dtq with the caller's key.
import fs from 'node:fs';
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { WATCHING, eventOrThrow, tooManySubscriptions } from './streams.mjs';

const PREFIX = 'JOB_STATE_';

function stateOut(state) {
  return state && state.startsWith(PREFIX) ? state.slice(PREFIX.length) : null;
}

const PRIORITY_PREFIX = 'JOB_PRIORITY_';

// UNSPECIFIED (a server from before priorities) is NORMAL.
function priorityOut(priority) {
  const name = priority && priority.startsWith(PRIORITY_PREFIX) ? priority.slice(PRIORITY_PREFIX.length) : '';
  return ['HIGH', 'NORMAL', 'LOW'].includes(name) ? name : 'NORMAL';
}

function orNull(value) {
  return value === '' || value === undefined ? null : value;
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function statusOut(s) {
  return {
    jobId: s.job_id,
    jobType: orNull(s.job_type),
    state: stateOut(s.state) ?? 'QUEUED',
    progressPercent: s.progress_percent,
    updatedAt: s.updated_at,
    message: orNull(s.message),
    traceId: orNull(s.trace_id),
    errorCode: orNull(s.error_code),
    errorMessage: orNull(s.error_message),
    attempt: s.attempt,
    priority: priorityOut(s.priority),
    runAt: orNull(s.run_at),
  };
}

function resultOut(r) {
  if (!r || !r.job_id) return null;
  return {
    schemaVersion: r.schema_version,
    jobId: r.job_id,
    jobType: r.job_type,
    input: parseJson(r.input_json),
    output: parseJson(r.output_json),
    finalState: stateOut(r.final_state),
    startedAt: orNull(r.started_at),
    completedAt: orNull(r.completed_at),
    error: r.error && r.error.code ? { code: r.error.code, message: r.error.message } : null,
    traceId: orNull(r.trace_id),
    attempts: r.attempts,
  };
}

function jobTypeOut(t) {
  return {
    jobType: t.job_type,
    name: t.name,
    version: t.version,
    description: t.description,
    payloadSchema: parseJson(t.payload_schema_json) ?? {},
    abiVersion: t.abi_version,
    concurrency: t.concurrency,
    pools: t.pools,
    inFlight: t.in_flight,
    healthy: t.pools > 0,
    isolation: orNull(t.isolation),
    runnerCrashes: Math.min(t.runner_crashes, 2 ** 31 - 1),
    crashLooping: t.crash_looping,
    lastCrash: orNull(t.last_crash),
    paused: t.paused,
  };
}

function jobEventOut(e) {
  return {
    at: e.at,
    kind: e.kind,
    jobType: e.job_type,
    attempt: e.attempt,
    worker: orNull(e.worker),
    errorCode: orNull(e.error_code),
    relatedJobId: orNull(e.related_job_id),
    detail: e.detail,
  };
}

function deadLetterOut(d) {
  return {
    jobId: d.job_id,
    jobType: d.job_type,
    traceId: orNull(d.trace_id),
    submittedAt: d.submitted_at,
    payload: parseJson(d.payload_json),
    error: { code: d.error?.code ?? '', message: d.error?.message ?? '' },
    attempts: d.attempts,
    failedAt: d.failed_at,
    replayedAs: orNull(d.replayed_as),
  };
}

function literal(ast, variables) {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value, variables)]));
    case Kind.LIST:
      return ast.values.map((v) => literal(v, variables));
    case Kind.NULL:
      return null;
    case Kind.VARIABLE:
      return variables ? variables[ast.name.value] : undefined;
    default:
      return undefined;
  }
}

const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value: payloads, results\' input and output, JSON Schemas.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: literal,
});

// WatchJobs' filter: an unset state or job type is any.
function watchFilter(jobType, state) {
  return { state: state ? PREFIX + state : 'JOB_STATE_UNSPECIFIED', job_type: jobType ?? '' };
}

function argumentError(field, message) {
  return new GraphQLError(`bad ${field}`, {
    extensions: { code: 'invalid_argument', details: [{ field, message }] },
  });
}

export function buildSchema({ client, hub, schemaFile, maxSubscriptions, metrics }) {
  const typeDefs = fs.readFileSync(schemaFile, 'utf8');
  let openSubscriptions = 0;
  // Counts a subscription from its start to its end, whichever way it ends.
  const counted = (iterable) => {
    if (openSubscriptions >= maxSubscriptions) {
      iterable.return();
      throw tooManySubscriptions();
    }
    openSubscriptions += 1;
    metrics.subscriptions.inc();
    const onClose = iterable.onClose;
    let open = true;
    const release = () => {
      if (!open) return;
      open = false;
      openSubscriptions -= 1;
      metrics.subscriptions.dec();
    };
    iterable.onClose = () => {
      release();
      if (onClose) onClose();
    };
    const next = iterable.next.bind(iterable);
    iterable.next = async () => {
      const step = await next();
      if (step.done) release();
      return step;
    };
    return iterable;
  };

  const resolvers = {
    JSON: JSONScalar,
    Query: {
      jobTypes: async (_, __, ctx) => {
        const response = await client.call('ListJobTypes', {}, ctx.auth);
        return response.job_types.map(jobTypeOut);
      },
      job: async (_, { id }, ctx) => {
        const response = await client.call('GetJob', { job_id: id }, ctx.auth);
        const status = statusOut(response.status);
        return {
          id: response.job_id,
          priority: status.priority,
          runAt: status.runAt,
          status,
          result: resultOut(response.result),
        };
      },
      jobs: async (_, { state, jobType, first, after }, ctx) => {
        if (first !== undefined && first !== null && (first < 1 || first > 500)) {
          throw argumentError('first', '1 to 500 (default 50)');
        }
        const response = await client.call(
          'ListJobs',
          {
            state: state ? PREFIX + state : 'JOB_STATE_UNSPECIFIED',
            job_type: jobType ?? '',
            limit: first ?? 0,
            cursor: after ?? '',
          },
          ctx.auth,
        );
        const nodes = response.jobs.map(statusOut);
        return {
          nodes,
          edges: nodes.map((node) => ({ node })),
          pageInfo: { hasNextPage: response.next_cursor !== '', endCursor: orNull(response.next_cursor) },
        };
      },
      deadLetters: async (_, { jobType, first }, ctx) => {
        if (first !== undefined && first !== null && (first < 1 || first > 500)) {
          throw argumentError('first', '1 to 500 (default 50)');
        }
        const response = await client.call(
          'ListDeadLetters',
          { job_type: jobType ?? '', limit: first ?? 0 },
          ctx.auth,
        );
        return response.dead_letters.map(deadLetterOut);
      },
    },
    Job: {
      // Asked only when the query names it: one GetJobHistory call.
      history: async (job, _, ctx) => {
        const response = await client.call('GetJobHistory', { job_id: job.id }, ctx.auth);
        return response.events.map(jobEventOut);
      },
    },
    Mutation: {
      submitJob: async (_, { input }, ctx) => {
        const { jobType, payload, idempotencyKey, priority, runAt, delaySeconds } = input;
        // gRPC cannot tell an empty key from none (proto3): refused here, as REST does.
        if (idempotencyKey === '') {
          throw new GraphQLError('an idempotency key has 1 to 255 characters, not 0', {
            extensions: { code: 'invalid_idempotency_key', details: [{ field: 'idempotencyKey', message: 'not empty' }] },
          });
        }
        if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
          throw new GraphQLError('payload must be a JSON object', {
            extensions: { code: 'invalid_request', details: [{ field: 'payload', message: 'required, a JSON object' }] },
          });
        }
        const response = await client.call(
          'SubmitJob',
          {
            job_type: jobType,
            payload_json: JSON.stringify(payload),
            idempotency_key: idempotencyKey ?? '',
            priority: PRIORITY_PREFIX + (priority ?? 'NORMAL'),
            run_at: runAt ?? '',
            delay_seconds: delaySeconds ?? 0,
          },
          ctx.auth,
        );
        return {
          jobId: response.job_id,
          traceId: response.trace_id,
          status: statusOut(response.status),
          replayed: response.replayed,
        };
      },
      cancelJob: async (_, { id }, ctx) => {
        const response = await client.call('CancelJob', { job_id: id }, ctx.auth);
        return statusOut(response.status);
      },
      replayDeadLetter: async (_, { id }, ctx) =>
        (await client.call('ReplayDeadLetter', { job_id: id }, ctx.auth)).job_id,
      replayDeadLetters: async (_, { jobType }, ctx) => {
        const response = await client.call('ReplayDeadLetters', { job_type: jobType }, ctx.auth);
        return { jobType, replayed: response.replayed };
      },
      deleteDeadLetter: async (_, { id }, ctx) => {
        await client.call('DeleteDeadLetter', { job_id: id }, ctx.auth);
        return id;
      },
      retryJob: async (_, { id }, ctx) => (await client.call('RetryJob', { job_id: id }, ctx.auth)).job_id,
      pauseJobType: async (_, { jobType }, ctx) => {
        const response = await client.call('PauseJobType', { job_type: jobType }, ctx.auth);
        return { jobType: response.job_type, paused: response.paused };
      },
      resumeJobType: async (_, { jobType }, ctx) => {
        const response = await client.call('ResumeJobType', { job_type: jobType }, ctx.auth);
        return { jobType: response.job_type, paused: response.paused };
      },
    },
    Subscription: {
      jobUpdated: {
        subscribe: async (_, { id }, ctx) => counted(await hub.watchJob(id, ctx.auth)),
        resolve: (item) => statusOut(eventOrThrow(item)),
      },
      jobEvents: {
        subscribe: (_, { jobType, state }, ctx) =>
          counted(hub.watchJobs(watchFilter(jobType, state), ctx.auth)),
        resolve: (item) => statusOut(eventOrThrow(item)),
      },
      jobChanges: {
        subscribe: (_, { jobType, state }, ctx) =>
          counted(hub.watchJobs(watchFilter(jobType, state), ctx.auth, { announce: true })),
        resolve: (item) =>
          item === WATCHING
            ? { watching: true, status: null }
            : { watching: false, status: statusOut(eventOrThrow(item)) },
      },
    },
  };
  return makeExecutableSchema({ typeDefs, resolvers });
}
