// The event stream read with fetch: the key goes in a header (never the
// URL), events arrive as EventSource's would, and a refusal closes it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { browserEventSource } from "./events";

function streamResponse(chunks: string[], init: ResponseInit = {}): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
    },
  });
  return new Response(body, { headers: { "Content-Type": "text/event-stream" }, ...init });
}

async function until(condition: () => boolean) {
  await vi.waitFor(() => {
    if (!condition()) throw new Error("not yet");
  });
}

describe("browserEventSource", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("sends the key in the Authorization header and hands over status events", async () => {
    const fetch = vi.fn(async () =>
      streamResponse([': heartbeat\n\n', 'event: status\ndata: {"state":"running"}\n\n']),
    );
    vi.stubGlobal("fetch", fetch);
    const source = browserEventSource("/v1/jobs/j/events", { Authorization: "Bearer dtq_k" });
    const seen: string[] = [];
    let opened = false;
    source.onopen = () => (opened = true);
    source.addEventListener("status", (event) => seen.push(event.data));
    await until(() => seen.length === 1);
    source.close();
    expect(opened).toBe(true);
    expect(seen).toEqual(['{"state":"running"}']);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/v1/jobs/j/events");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer dtq_k");
    expect(source.readyState).toBe(2);
  });

  it("closes, and says so, when the server refuses the stream", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => new Response('{"error":{"code":"unauthorized"}}', { status: 401, headers: { "Content-Type": "application/json" } })),
    );
    const source = browserEventSource("/v1/events", {});
    let errors = 0;
    source.onerror = () => (errors += 1);
    await until(() => errors === 1);
    expect(source.readyState).toBe(2);
  });
});
