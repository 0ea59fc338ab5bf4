// Test doubles: a fetch that answers by route, an EventSource the test
// drives, and a render() with the app's services and a router.
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter } from "react-router";
import { vi } from "vitest";
import { createServices, ServicesProvider, type Services } from "../api/context";
import { TokenPromptProvider } from "../components/TokenDialog";
import type { JobStatus, JobType } from "../api/types";

export interface Reply {
  status?: number;
  body?: unknown;
}
type Handler = (request: { url: URL; method: string; headers: Record<string, string>; body: unknown }) => Reply | Promise<Reply>;

/** Routes are "METHOD /path" (query ignored); unknown routes answer 404 in the API's error shape. */
export function fakeFetch(routes: Record<string, Handler | Reply>) {
  const calls: { method: string; url: URL; headers: Record<string, string>; body: unknown }[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://dtq.test");
    const method = init?.method ?? "GET";
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
    const request = { url, method, headers, body };
    calls.push(request);
    const route = routes[`${method} ${url.pathname}`];
    const reply: Reply =
      typeof route === "function"
        ? await route(request)
        : route ?? { status: 404, body: { error: { code: "not_found", message: "no route", details: [] } } };
    return new Response(reply.body === undefined ? "" : JSON.stringify(reply.body), {
      status: reply.status ?? 200,
      headers: { "Content-Type": "application/json" },
    });
  });
  return { fetch: fn as unknown as typeof fetch, calls };
}

export class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  private listeners: Record<string, ((event: MessageEvent<string>) => void)[]> = {};

  constructor(
    readonly url: string,
    readonly headers: Record<string, string> = {},
  ) {
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
    (this.listeners[type] ??= []).push(listener);
  }

  close() {
    this.closed = true;
    this.readyState = 2;
  }

  open() {
    this.readyState = 1;
    this.onopen?.();
  }

  emit(status: JobStatus) {
    for (const listener of this.listeners.status ?? []) {
      listener(new MessageEvent("status", { data: JSON.stringify(status) }));
    }
  }

  /** A network error (the browser reconnects) or, with closed, an HTTP error. */
  fail(closed = false) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.();
  }

  static latest(): FakeEventSource {
    const source = FakeEventSource.instances.at(-1);
    if (!source) throw new Error("no EventSource was opened");
    return source;
  }
}

export function renderApp(ui: ReactElement, options: { route?: string; fetch: typeof fetch; token?: string }) {
  FakeEventSource.instances = [];
  const services: Services = createServices({
    fetch: options.fetch,
    eventSource: (url, headers) => new FakeEventSource(url, headers),
    storage: localStorage,
  });
  if (options.token) services.tokens.set(options.token);
  const result = render(
    <ServicesProvider services={services}>
      <MemoryRouter initialEntries={[options.route ?? "/"]}>
        <TokenPromptProvider>{ui}</TokenPromptProvider>
      </MemoryRouter>
    </ServicesProvider>,
  );
  return { ...result, services };
}

export const JOB_ID = "9b20fde8-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

export function status(overrides: Partial<JobStatus> = {}): JobStatus {
  return {
    job_id: JOB_ID,
    state: "running",
    progress_percent: 0,
    updated_at: "2026-01-02T03:04:05.000Z",
    message: "",
    job_type: "weather",
    ...overrides,
  };
}

export const WEATHER_TYPE: JobType = {
  job_type: "weather",
  name: "Weather",
  version: "1.0.0",
  description: "Current weather in a city.",
  abi_version: "1.0",
  concurrency: 8,
  pools: 1,
  in_flight: 0,
  payload_schema: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Weather",
    type: "object",
    properties: {
      city: { title: "City", type: "string", minLength: 1, examples: ["Austin"] },
      country_code: { title: "Country", type: "string", pattern: "^[A-Za-z]{2}$", examples: ["US"] },
      units: { title: "Units", type: "string", enum: ["metric", "imperial"], default: "metric" },
    },
    required: ["city"],
    additionalProperties: false,
  },
};

/** A type no UI code knows about, as a third party's plugin would bring. */
export const DICE_TYPE: JobType = {
  job_type: "dice",
  name: "Dice roller",
  version: "0.3.1",
  description: "Rolls dice.",
  abi_version: "1.0",
  concurrency: 2,
  pools: 1,
  in_flight: 0,
  payload_schema: {
    type: "object",
    properties: {
      sides: { title: "Sides", type: "integer", minimum: 2, maximum: 100 },
      count: { title: "How many", type: "integer", minimum: 1, default: 1 },
      label: { title: "Label", type: "string" },
    },
    required: ["sides"],
  },
};
