// Live status over Server-Sent Events: of one job (GET /v1/jobs/{id}/events),
// a snapshot first, then every change, until a terminal state; of every job
// (GET /v1/events), every change, with no end. A stream reconnects by itself
// after a network error; when the server answers with an error instead (401,
// 429 too many streams, 503), we reconnect with a growing pause (for one
// job, unless it does not exist).
//
// The streams need the API key, and the browser's EventSource cannot send a
// header (and a key must never ride in a URL), so they are read with fetch
// (@microsoft/fetch-event-source) behind EventSource's shape: the watchers
// below, and the tests' doubles, see an EventSource.
import { fetchEventSource, EventStreamContentType } from "@microsoft/fetch-event-source";
import { ApiError, type DtqApi } from "./client";
import type { ConnectionMonitor } from "./connection";
import { isTerminal, type JobStatus } from "./types";

export type StreamState = "connecting" | "live" | "reconnecting" | "ended";

export interface WatchHandlers {
  onStatus(status: JobStatus): void;
  onStreamState?(state: StreamState): void;
  /** The stream cannot work: the job is unknown or the id malformed. */
  onFatal?(error: ApiError): void;
}

/** What the watchers use of a stream: EventSource's shape. */
export interface EventStream {
  readonly readyState: number;
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  addEventListener(type: "status", listener: (event: MessageEvent<string>) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string, headers: Record<string, string>) => EventStream;

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2; // EventSource.CLOSED, spelled out for test doubles

/** Thrown in onopen to stop fetch-event-source retrying: the server answered, not with a stream. */
class NotAStream extends Error {}

/** An event stream read with fetch, so that it carries the Authorization header. */
class FetchEventStream implements EventStream {
  readyState = CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private readonly listeners: ((event: MessageEvent<string>) => void)[] = [];
  private readonly controller = new AbortController();

  constructor(url: string, headers: Record<string, string>) {
    fetchEventSource(url, {
      headers: { Accept: EventStreamContentType, ...headers },
      signal: this.controller.signal,
      openWhenHidden: true, // as EventSource: a hidden tab keeps its stream
      onopen: async (response) => {
        const type = response.headers.get("content-type") ?? "";
        if (!response.ok || !type.startsWith(EventStreamContentType)) throw new NotAStream();
        this.readyState = OPEN;
        this.onopen?.();
      },
      onmessage: (message) => {
        if (message.event !== "status") return;
        const event = new MessageEvent<string>("status", { data: message.data });
        for (const listener of this.listeners) listener(event);
      },
      onclose: () => {
        // The server ended the stream: as EventSource, reconnect.
        this.readyState = CONNECTING;
        this.onerror?.();
      },
      onerror: (error: unknown) => {
        if (error instanceof NotAStream) {
          this.readyState = CLOSED;
          this.onerror?.();
          throw error; // no retry: the watcher decides
        }
        this.readyState = CONNECTING;
        this.onerror?.();
        return undefined; // a network error: retried after fetch-event-source's pause
      },
    }).catch(() => {
      // Stopped: by close(), or a refusal already reported through onerror.
    });
  }

  addEventListener(_type: "status", listener: (event: MessageEvent<string>) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.readyState = CLOSED;
    this.controller.abort();
  }
}

export const browserEventSource: EventSourceFactory = (url, headers) => new FetchEventStream(url, headers);

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

export function watchJob(
  api: DtqApi,
  jobId: string,
  handlers: WatchHandlers,
  options: { eventSource?: EventSourceFactory; connection?: ConnectionMonitor } = {},
): () => void {
  const createSource = options.eventSource ?? browserEventSource;
  let source: EventStream | undefined;
  let stopped = false;
  let retryMs = RETRY_MIN_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };

  const scheduleReopen = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(open, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  function open() {
    if (stopped) return;
    source = createSource(api.url(`/v1/jobs/${encodeURIComponent(jobId)}/events`), api.authHeaders());
    source.onopen = () => {
      retryMs = RETRY_MIN_MS;
      options.connection?.reportReachable();
      handlers.onStreamState?.("live");
    };
    source.addEventListener("status", (event) => {
      let status: JobStatus;
      try {
        status = JSON.parse(event.data) as JobStatus;
      } catch {
        return; // not ours to show; the next event carries the whole status again
      }
      handlers.onStatus(status);
      if (isTerminal(status.state)) {
        stop();
        handlers.onStreamState?.("ended");
      }
    });
    source.onerror = () => {
      if (stopped) return;
      handlers.onStreamState?.("reconnecting");
      if (source?.readyState !== CLOSED) {
        // A network error: the browser is already reconnecting.
        options.connection?.reportLost();
        return;
      }
      // The server answered, but not with a stream: find out whether to retry.
      api.job(jobId).then(
        () => scheduleReopen(),
        (error: unknown) => {
          if (error instanceof ApiError && (error.status === 404 || error.code === "malformed_id")) {
            stop();
            handlers.onFatal?.(error);
          } else {
            scheduleReopen();
          }
        },
      );
    };
  }

  handlers.onStreamState?.("connecting");
  open();
  return stop;
}

export interface WatchJobsHandlers {
  onStatus(status: JobStatus): void;
  /** The stream is open, at first and after each reconnect: what it missed meanwhile is not resent. */
  onOpen?(): void;
  /** Never "ended": the stream of every job has no end. */
  onStreamState?(state: Exclude<StreamState, "ended">): void;
}

export function watchJobs(
  api: DtqApi,
  filters: { job_type?: string },
  handlers: WatchJobsHandlers,
  options: { eventSource?: EventSourceFactory; connection?: ConnectionMonitor } = {},
): () => void {
  const createSource = options.eventSource ?? browserEventSource;
  const params = new URLSearchParams();
  if (filters.job_type) params.set("job_type", filters.job_type);
  const search = params.toString();
  const url = api.url(`/v1/events${search ? `?${search}` : ""}`);
  let source: EventStream | undefined;
  let stopped = false;
  let retryMs = RETRY_MIN_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function open() {
    if (stopped) return;
    source = createSource(url, api.authHeaders());
    source.onopen = () => {
      retryMs = RETRY_MIN_MS;
      options.connection?.reportReachable();
      handlers.onStreamState?.("live");
      handlers.onOpen?.();
    };
    source.addEventListener("status", (event) => {
      let status: JobStatus;
      try {
        status = JSON.parse(event.data) as JobStatus;
      } catch {
        return; // not ours to show; the job's next event carries its whole status again
      }
      handlers.onStatus(status);
    });
    source.onerror = () => {
      if (stopped) return;
      handlers.onStreamState?.("reconnecting");
      if (source?.readyState !== CLOSED) {
        // A network error: the browser is already reconnecting.
        options.connection?.reportLost();
        return;
      }
      // The server answered, but not with a stream (401, 429, 503): retry later.
      clearTimeout(timer);
      timer = setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    };
  }

  handlers.onStreamState?.("connecting");
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
