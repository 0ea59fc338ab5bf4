import { ApolloLink, HttpLink } from "@apollo/client";
import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";
import { afterEach, describe, expect, it, vi } from "vitest";
import { jobsPage, status } from "../test/helpers";
import { ApiError, createApolloClient, createCache, describeError, toApiError } from "./client";
import { ConnectionMonitor } from "./connection";
import { JOB_CHANGES, JOBS, SUBMIT_JOB } from "./documents";
import { TokenStore } from "./token";
import { authLink, createSocketClient, splitLink } from "./transport";

describe("toApiError", () => {
  it("takes the code and the field errors from a GraphQL error's extensions", () => {
    const error = toApiError(
      new CombinedGraphQLErrors({
        errors: [
          {
            message: "invalid payload for weather",
            extensions: { code: "invalid_payload", details: [{ field: "/city", message: "required" }] },
          },
        ],
      }),
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "invalid_payload", message: "invalid payload for weather", details: [{ field: "/city", message: "required" }] });
  });

  it("reads the gateway's refusals before GraphQL runs, and keeps another body readable", () => {
    const tooLarge = new ServerError("Response not successful", {
      response: new Response("", { status: 413 }),
      bodyText: JSON.stringify({ errors: [{ message: "the body is over 1048576 bytes", extensions: { code: "payload_too_large" } }] }),
    });
    expect(toApiError(tooLarge)).toMatchObject({ code: "payload_too_large", message: "the body is over 1048576 bytes" });
    const other = new ServerError("Response not successful", { response: new Response("", { status: 418 }), bodyText: "I'm a teapot" });
    expect(toApiError(other)).toMatchObject({ code: "http_418", message: "I'm a teapot" });
    // Pistache's 404: a server with no gateway in front.
    const missing = new ServerError("Response not successful", {
      response: new Response("", { status: 404 }),
      bodyText: JSON.stringify({ error: { code: "not_found", message: "no route" } }),
    });
    expect(describeError(missing)).toMatch(/serves no GraphQL API at \/graphql/);
  });

  it("says when the server cannot be reached", () => {
    const error = toApiError(new TypeError("Failed to fetch"));
    expect(error.code).toBe("network");
    expect(describeError(error)).toMatch(/Cannot reach the dtq server/);
    expect(describeError(new ApiError("rate_limited", "slow down"))).toMatch(/Too many submissions/);
  });
});

/** A link that answers every operation with `result` and records the headers it was sent. */
function fetchRecorder(result: unknown) {
  const calls: { url: string; headers: Record<string, string>; body: { operationName: string; variables: unknown } }[] = [];
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), headers: init?.headers as Record<string, string>, body: JSON.parse(String(init?.body)) });
    return new Response(JSON.stringify(result), { headers: { "Content-Type": "application/json" } });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

describe("HTTP operations", () => {
  it("go to /graphql by POST with the key in the Authorization header, read when sent", async () => {
    const tokens = new TokenStore(localStorage);
    tokens.set("secret");
    const { fetch, calls } = fetchRecorder({
      data: { submitJob: { __typename: "SubmitJobPayload", jobId: "j", traceId: "t", status: status({ jobId: "j" }) } },
    });
    const never = new ApolloLink(() => {
      throw new Error("not a subscription");
    });
    const client = createApolloClient(splitLink(never, ApolloLink.from([authLink(tokens), new HttpLink({ uri: "/graphql", fetch })])));
    await client.mutate({ mutation: SUBMIT_JOB, variables: { jobType: "weather", payload: { city: "Austin" } } });
    expect(calls[0]?.url).toBe("/graphql");
    expect(calls[0]?.headers.authorization ?? calls[0]?.headers.Authorization).toBe("Bearer secret");
    expect(calls[0]?.body).toMatchObject({ operationName: "SubmitJob", variables: { jobType: "weather", payload: { city: "Austin" } } });
    expect(JSON.stringify(calls[0])).not.toContain("?secret");
    tokens.set("");
    await client.mutate({ mutation: SUBMIT_JOB, variables: { jobType: "weather", payload: {} } });
    expect(calls[1]?.headers.authorization ?? calls[1]?.headers.Authorization).toBeUndefined();
  });
});

describe("the cache", () => {
  it("keeps one status per job, so a pushed update shows in the list; an end is final", () => {
    const cache = createCache();
    const variables = { state: null, jobType: null, first: 20, after: null };
    cache.writeQuery({ query: JOBS, variables, data: jobsPage([status({ jobId: "a", state: "RUNNING", progressPercent: 10 })]).data });
    cache.writeQuery({ query: JOB_CHANGES, data: { jobChanges: { __typename: "JobChange", watching: false, status: status({ jobId: "a", state: "CANCELLED", progressPercent: 10 }) } } });
    expect(cache.readQuery({ query: JOBS, variables })?.jobs.nodes[0]?.state).toBe("CANCELLED");
    // A cancel's reply written after the end (still RUNNING) does not undo it.
    cache.writeQuery({ query: JOB_CHANGES, data: { jobChanges: { __typename: "JobChange", watching: false, status: status({ jobId: "a", state: "RUNNING", message: "cancel requested" }) } } });
    expect(cache.readQuery({ query: JOBS, variables })?.jobs.nodes[0]?.state).toBe("CANCELLED");
  });
});

/** Enough of a browser WebSocket for graphql-ws, driven by the test. */
class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static sockets: FakeWebSocket[] = [];
  readyState = FakeWebSocket.CONNECTING;
  sent: { type: string; payload?: unknown; id?: string }[] = [];
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  protocol = "graphql-transport-ws";

  constructor(
    readonly url: string,
    readonly protocols: string,
  ) {
    FakeWebSocket.sockets.push(this);
  }

  send(data: string) {
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000, reason = "") {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: true });
  }

  // The server's side.
  open() {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.({});
  }

  receive(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  drop() {
    this.readyState = FakeWebSocket.CLOSED;
    this.onclose?.({ code: 1006, reason: "", wasClean: false });
  }

  static latest() {
    return FakeWebSocket.sockets.at(-1)!;
  }
}

async function until(condition: () => boolean) {
  await vi.waitFor(() => {
    if (!condition()) throw new Error("not yet");
  });
}

describe("the subscriptions' WebSocket", () => {
  afterEach(() => {
    FakeWebSocket.sockets = [];
  });

  it("opens with the page, sends the key in connection_init, and drives the connection state", async () => {
    const tokens = new TokenStore(localStorage);
    tokens.set("secret");
    const connection = new ConnectionMonitor();
    const socket = createSocketClient({ url: "ws://dtq.test/graphql", tokens, connection, webSocketImpl: FakeWebSocket });
    await until(() => FakeWebSocket.sockets.length === 1);
    const first = FakeWebSocket.latest();
    expect(first.url).toBe("ws://dtq.test/graphql");
    expect(first.protocols).toBe("graphql-transport-ws");
    first.open();
    await until(() => first.sent.length === 1);
    expect(first.sent[0]).toEqual({ type: "connection_init", payload: { authorization: "Bearer secret" } });
    expect(connection.get().state).toBe("connecting");
    first.receive({ type: "connection_ack" });
    expect(connection.get()).toEqual({ state: "online", epoch: 0 });

    // The server goes away: lost, and a new socket is tried by itself.
    first.drop();
    expect(connection.get().state).toBe("lost");
    await until(() => FakeWebSocket.sockets.length === 2);
    const second = FakeWebSocket.latest();
    second.open();
    await until(() => second.sent.length === 1);
    second.receive({ type: "connection_ack" });
    expect(connection.get()).toEqual({ state: "restored", epoch: 1 });

    // A new key: the socket restarts with it, without reporting a loss.
    tokens.set("other");
    socket.restart();
    expect(second.readyState).toBe(FakeWebSocket.CLOSED);
    expect(connection.get().state).toBe("restored");
    await until(() => FakeWebSocket.sockets.length === 3);
    const third = FakeWebSocket.latest();
    third.open();
    await until(() => third.sent.length === 1);
    expect(third.sent[0]).toEqual({ type: "connection_init", payload: { authorization: "Bearer other" } });
    third.receive({ type: "connection_ack" });
    await socket.client.dispose();
    expect(third.readyState).toBe(FakeWebSocket.CLOSED);
    connection.dispose();
  }, 20_000);
});
