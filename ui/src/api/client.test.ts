import { describe, expect, it, vi } from "vitest";
import { fakeFetch } from "../test/helpers";
import { ApiError, describeError, DtqApi } from "./client";
import { ConnectionMonitor } from "./connection";
import { TokenStore } from "./token";

describe("DtqApi", () => {
  it("sends the key on reads and writes alike, in a header, and the body as JSON", async () => {
    const { fetch, calls } = fakeFetch({
      "POST /v1/jobs": { status: 202, body: { job_id: "id" } },
      "GET /v1/job-types": { body: { job_types: [] } },
    });
    const tokens = new TokenStore(localStorage);
    tokens.set("secret");
    const api = new DtqApi({ tokens, fetch });
    await api.submit("weather", { city: "Austin" });
    await api.jobTypes();
    expect(calls[0]?.headers.Authorization).toBe("Bearer secret");
    expect(calls[0]?.body).toEqual({ job_type: "weather", payload: { city: "Austin" } });
    expect(calls[1]?.headers.Authorization).toBe("Bearer secret");
    expect(calls.every((call) => !call.url.href.includes("secret"))).toBe(true);
    tokens.set("");
    await api.jobTypes();
    expect(calls[2]?.headers.Authorization).toBeUndefined();
  });

  it("turns the API's error shape into an ApiError with its details", async () => {
    const { fetch } = fakeFetch({
      "POST /v1/jobs": {
        status: 400,
        body: {
          error: { code: "invalid_payload", message: "invalid payload", details: [{ field: "/city", message: "required" }] },
        },
      },
    });
    const error = await new DtqApi({ tokens: new TokenStore(localStorage), fetch }).submit("weather", {}).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: "invalid_payload", details: [{ field: "/city", message: "required" }] });
  });

  it("keeps a body in another shape readable", async () => {
    const fetch = vi.fn(async () => new Response("Request Entity Too Large", { status: 413 })) as unknown as typeof globalThis.fetch;
    const error = await new DtqApi({ tokens: new TokenStore(localStorage), fetch }).jobTypes().catch((e) => e);
    expect(error).toMatchObject({ status: 413, code: "http_413", message: "Request Entity Too Large" });
  });

  it("reports an unreachable server to the connection monitor", async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    }) as unknown as typeof globalThis.fetch;
    const connection = new ConnectionMonitor(async () => false);
    const error = await new DtqApi({ tokens: new TokenStore(localStorage), connection, fetch }).jobs({}).catch((e) => e);
    expect(error).toMatchObject({ code: "network" });
    expect(describeError(error)).toMatch(/Cannot reach the dtq server/);
    expect(connection.get().state).toBe("lost");
    connection.dispose();
  });

  it("builds the list query", async () => {
    const { fetch, calls } = fakeFetch({ "GET /v1/jobs": { body: { jobs: [], next_cursor: null } } });
    await new DtqApi({ tokens: new TokenStore(localStorage), fetch }).jobs({ state: "running", job_type: "quote", cursor: "c/1", limit: 20 });
    expect(calls[0]?.url.search).toBe("?state=running&job_type=quote&cursor=c%2F1&limit=20");
  });
});

describe("ConnectionMonitor", () => {
  it("probes until the server answers, then says it is back", async () => {
    vi.useFakeTimers();
    let up = false;
    const monitor = new ConnectionMonitor(async () => up);
    monitor.reportLost();
    expect(monitor.get()).toEqual({ state: "lost", epoch: 0 });
    await vi.advanceTimersByTimeAsync(600);
    expect(monitor.get().state).toBe("lost");
    up = true;
    await vi.advanceTimersByTimeAsync(1100);
    expect(monitor.get()).toEqual({ state: "restored", epoch: 1 });
    await vi.advanceTimersByTimeAsync(5000);
    expect(monitor.get()).toEqual({ state: "online", epoch: 1 });
    monitor.dispose();
    vi.useRealTimers();
  });
});

describe("TokenStore", () => {
  it("adopts a key handed over as #key=", () => {
    const store = new TokenStore(localStorage);
    const replaceState = vi.fn();
    store.adoptFromLocation(
      { hash: "#key=dtq_abc", pathname: "/", search: "" } as Location,
      { state: null, replaceState } as unknown as History,
    );
    expect(store.get()).toBe("dtq_abc");
    expect(replaceState).toHaveBeenCalledWith(null, "", "/");
  });

  it("keeps the token, and adopts one handed over in the address", () => {
    const store = new TokenStore(localStorage);
    store.set("  abc  ");
    expect(new TokenStore(localStorage).get()).toBe("abc");
    const replaceState = vi.fn();
    store.adoptFromLocation(
      { hash: "#token=t%2B1", pathname: "/jobs", search: "?state=running" } as Location,
      { state: null, replaceState } as unknown as History,
    );
    expect(store.get()).toBe("t+1");
    expect(replaceState).toHaveBeenCalledWith(null, "", "/jobs?state=running");
  });
});
