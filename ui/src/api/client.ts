// A small typed client for the dtq REST API. Every failure becomes an
// ApiError: the server's own {"error":{code,message,details}} when it sent
// one, `network` when the server could not be reached (and the connection
// monitor hears of it), `http_<status>` for a body in another shape.
import type { ConnectionMonitor } from "./connection";
import type { TokenStore } from "./token";
import type { FieldError, Job, JobPage, JobState, JobStatus, JobType, Submitted } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldError[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }

  get isNetwork(): boolean {
    return this.code === "network";
  }
}

/** A sentence for a person, for any error a call can end with. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case "network":
      return "Cannot reach the dtq server. It may have stopped, or the network is down; retrying by itself.";
    case "unauthorized":
      return "This server needs an API key: the one dtq serve printed when it first started, or one made with dtq keys create.";
    case "forbidden":
      return `This API key may not do that: ${error.message}`;
    case "rate_limited":
      return "Too many submissions right now; wait a moment and try again.";
    case "too_many_streams":
      return "The server has too many open live streams; try again shortly.";
    case "unavailable":
      return `The server is not ready: ${error.message}`;
    default:
      return error.message || `The server answered ${error.status}.`;
  }
}

export interface ListQuery {
  state?: JobState | "";
  job_type?: string;
  cursor?: string;
  limit?: number;
}

export interface ApiOptions {
  tokens: TokenStore;
  connection?: ConnectionMonitor;
  baseUrl?: string;
  fetch?: typeof fetch;
}

export class DtqApi {
  private readonly baseUrl: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: ApiOptions) {
    this.baseUrl = options.baseUrl ?? "";
    this.doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  url(path: string): string {
    return this.baseUrl + path;
  }

  /** The Authorization header every request carries once a key is set (never a cookie). */
  authHeaders(): Record<string, string> {
    const key = this.options.tokens.get();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  jobTypes(signal?: AbortSignal): Promise<JobType[]> {
    return this.request<{ job_types: JobType[] }>("GET", "/v1/job-types", { signal }).then((r) => r.job_types);
  }

  submit(jobType: string, payload: unknown, signal?: AbortSignal): Promise<Submitted> {
    return this.request("POST", "/v1/jobs", { body: { job_type: jobType, payload }, signal });
  }

  job(id: string, signal?: AbortSignal): Promise<Job> {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(id)}`, { signal });
  }

  jobs(query: ListQuery, signal?: AbortSignal): Promise<JobPage> {
    const params = new URLSearchParams();
    if (query.state) params.set("state", query.state);
    if (query.job_type) params.set("job_type", query.job_type);
    if (query.cursor) params.set("cursor", query.cursor);
    if (query.limit) params.set("limit", String(query.limit));
    const search = params.toString();
    return this.request("GET", `/v1/jobs${search ? `?${search}` : ""}`, { signal });
  }

  cancel(id: string): Promise<JobStatus> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/cancel`, {});
  }

  /** GET /healthz without telling the connection monitor: the monitor's own probe. */
  async alive(): Promise<boolean> {
    try {
      const response = await this.doFetch(this.url("/healthz"), { cache: "no-store" });
      return response.ok;
    } catch {
      return false;
    }
  }

  private async request<T>(
    method: "GET" | "POST",
    path: string,
    init: { body?: unknown; signal?: AbortSignal | undefined },
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...this.authHeaders() };
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await this.doFetch(this.url(path), {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: init.signal,
        cache: "no-store",
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      this.options.connection?.reportLost();
      throw new ApiError(0, "network", error instanceof Error ? error.message : "network error");
    }
    this.options.connection?.reportReachable();
    const text = await response.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (response.ok) return body as T;
    const error = (body as { error?: { code?: string; message?: string; details?: FieldError[] } } | undefined)
      ?.error;
    if (error && typeof error.code === "string") {
      throw new ApiError(response.status, error.code, error.message ?? "", Array.isArray(error.details) ? error.details : []);
    }
    throw new ApiError(response.status, `http_${response.status}`, text.trim() || response.statusText || `HTTP ${response.status}`);
  }
}
