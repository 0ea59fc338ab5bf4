// The subscriptions' sources: dtq's gRPC watches turned into async
// iterables, with no polling anywhere.
//
// jobUpdated: one WatchJob call per (job, API key), shared by every
// subscriber of that job with that key (fan-out in the gateway: a
// thousand browsers on one job cost dtq one stream). Each subscriber gets
// the latest status as its snapshot, then every change, in dtq's order, and
// its stream ends after the terminal state. When dtq goes away (a restart)
// the watch reconnects with backoff and resumes from dtq's new snapshot,
// sending only what the subscribers have not seen: the subscription
// outlives the restart.
//
// jobEvents and jobChanges: one WatchJobs call per subscription (the filter
// is dtq's), re-opened with backoff when dtq goes away. What changes while
// no watch is registered is not replayed (as with REST's /v1/events), so
// jobChanges says when one is: dtq sends the call's headers once it has
// registered the watch, and the gateway passes them on as WATCHING, after
// which a client's re-read list misses nothing.
//
// An error after a stream has begun arrives as one event that carries it
// (the subscription's resolver throws it, so the client gets a `next` with
// errors and extensions.code), then the stream ends.
import { GraphQLError } from 'graphql';
import { isUnavailable } from './dtq_client.mjs';

const TERMINAL = new Set(['JOB_STATE_COMPLETED', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED']);

// The item that opens each (re)established watch of every job.
export const WATCHING = Symbol('watching');

export class StreamError {
  constructor(error) {
    this.error = error;
  }
}

// A queue read by one `for await`: push() and end() from the source,
// return() (the client unsubscribed) calls onClose once. A reader that falls
// `maxQueued` items behind (a client that does not read its socket) is ended
// with too_many_streams rather than holding the gateway's memory.
export class Channel {
  constructor(onClose, maxQueued = 10_000) {
    this.maxQueued = maxQueued;
    this.items = [];
    this.waiting = null;
    this.done = false;
    this.onClose = onClose;
  }

  push(item) {
    if (this.done) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: item, done: false });
    } else if (this.items.length >= this.maxQueued) {
      this.items.push(
        new StreamError(
          new GraphQLError('the subscriber fell too far behind its stream', {
            extensions: { code: 'too_many_streams' },
          }),
        ),
      );
      this.end();
      this.closed = true;
      if (this.onClose) this.onClose();
    } else {
      this.items.push(item);
    }
  }

  // Ends after what is queued has been read.
  end() {
    if (this.done) return;
    this.done = true;
    if (this.waiting && this.items.length === 0) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: undefined, done: true });
    }
  }

  next() {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift(), done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return() {
    this.items = [];
    const wasOpen = !this.closed;
    this.closed = true;
    this.end();
    if (wasOpen && this.onClose) this.onClose();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error) {
    this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

function sameStatus(a, b) {
  return (
    a.state === b.state &&
    a.progress_percent === b.progress_percent &&
    a.message === b.message &&
    a.error_code === b.error_code &&
    a.attempt === b.attempt
  );
}

function backoffMs(attempt) {
  const capped = Math.min(2000, 100 * 2 ** attempt);
  return capped / 2 + Math.random() * (capped / 2);
}

class SharedWatch {
  constructor(hub, key, jobId, auth) {
    this.hub = hub;
    this.key = key;
    this.jobId = jobId;
    this.auth = auth;
    this.last = null;
    this.subscribers = new Set();
    this.call = null;
    this.closed = false;
    this.retries = 0;
    this.first = new Promise((resolve, reject) => {
      this.firstResolve = resolve;
      this.firstReject = reject;
    });
    // A rejection nobody awaits is not an unhandled one.
    this.first.catch(() => {});
  }

  open() {
    const call = this.hub.client.stream('WatchJob', { job_id: this.jobId }, this.auth);
    this.call = call;
    this.hub.metrics.grpcStreams.inc();
    let counted = true;
    const uncount = () => {
      if (counted) this.hub.metrics.grpcStreams.dec();
      counted = false;
    };
    call.on('data', (status) => {
      this.retries = 0;
      this.onStatus(status);
    });
    call.on('end', uncount);
    call.on('error', (raw) => {
      uncount();
      if (this.closed || call !== this.call) return;
      const error = this.hub.client.toGraphQLError(raw);
      // Once followed, a job outlives dtq's restarts: reconnect.
      if (this.last && isUnavailable(error)) {
        setTimeout(() => !this.closed && this.open(), backoffMs(this.retries++));
        return;
      }
      this.fail(error);
    });
    call.on('status', (s) => {
      // OK: dtq sent the terminal state and ended the stream.
      if (s.code === 0 && !this.closed) this.finish();
    });
  }

  onStatus(status) {
    if (this.closed) return;
    if (this.last && (sameStatus(this.last, status) || TERMINAL.has(this.last.state))) return;
    this.last = status;
    if (this.firstResolve) {
      this.firstResolve();
      this.firstResolve = null;
    }
    for (const channel of this.subscribers) channel.push(status);
    if (TERMINAL.has(status.state)) this.finish();
  }

  add() {
    const channel = new Channel(() => this.remove(channel));
    this.subscribers.add(channel);
    if (this.last) channel.push(this.last);
    return channel;
  }

  remove(channel) {
    this.subscribers.delete(channel);
    if (this.subscribers.size === 0 && !this.closed) this.close();
  }

  fail(error) {
    if (this.firstReject && !this.last) {
      this.firstReject(error);
      this.firstReject = null;
    }
    for (const channel of this.subscribers) {
      channel.push(new StreamError(error));
      channel.end();
    }
    this.close();
  }

  finish() {
    for (const channel of this.subscribers) channel.end();
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.hub.watches.delete(this.key);
    if (this.call) this.call.cancel();
  }
}

export class JobWatchHub {
  constructor(client, metrics) {
    this.client = client;
    this.metrics = metrics;
    this.watches = new Map();
  }

  // The job's statuses, snapshot first; rejects with dtq's error (unknown_job,
  // malformed_id, unauthorized, ...) when the watch cannot begin.
  async watchJob(jobId, auth) {
    const key = `${jobId}\u0000${auth ?? ''}`;
    let watch = this.watches.get(key);
    if (!watch) {
      watch = new SharedWatch(this, key, jobId, auth);
      this.watches.set(key, watch);
      watch.open();
    }
    const channel = watch.add();
    try {
      await watch.first;
    } catch (error) {
      channel.return();
      throw error;
    }
    return channel;
  }

  // Every job's changes that pass the filter; with `announce`, WATCHING
  // first each time dtq has registered the watch.
  watchJobs(filter, auth, { announce = false } = {}) {
    let closed = false;
    let call = null;
    let retries = 0;
    const channel = new Channel(() => {
      closed = true;
      if (call) call.cancel();
    });
    const open = () => {
      call = this.client.stream('WatchJobs', filter, auth);
      const mine = call;
      this.metrics.grpcStreams.inc();
      let counted = true;
      const uncount = () => {
        if (counted) this.metrics.grpcStreams.dec();
        counted = false;
      };
      if (announce) call.on('metadata', () => channel.push(WATCHING));
      call.on('data', (status) => {
        retries = 0;
        channel.push(status);
      });
      call.on('end', uncount);
      call.on('error', (raw) => {
        uncount();
        if (closed || mine !== call) return;
        const error = this.client.toGraphQLError(raw);
        if (isUnavailable(error)) {
          setTimeout(() => !closed && open(), backoffMs(retries++));
          return;
        }
        channel.push(new StreamError(error));
        channel.end();
      });
    };
    open();
    return channel;
  }
}

// The subscription field's resolve: a status event, or the error it carries.
export function eventOrThrow(item) {
  if (item instanceof StreamError) throw item.error;
  return item;
}

export function tooManySubscriptions() {
  return new GraphQLError('too many open subscriptions; retry later', {
    extensions: { code: 'too_many_streams' },
  });
}
