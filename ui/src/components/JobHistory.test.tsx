import { fireEvent, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { FakeGraphQL, gqlError, JOB_ID, renderApp } from "../test/helpers";
import { eventLabel, JobHistory } from "./JobHistory";

const REPLAY = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

const event = (kind: string, at: string, extra: Record<string, unknown> = {}) => ({
  __typename: "JobEvent",
  at,
  kind,
  jobType: "weather",
  attempt: 0,
  worker: null,
  errorCode: null,
  relatedJobId: null,
  detail: kind,
  ...extra,
});

const HISTORY = {
  data: {
    job: {
      __typename: "Job",
      id: JOB_ID,
      history: [
        event("submitted", "2026-01-02T03:04:05.000Z", { detail: "queued" }),
        event("started", "2026-01-02T03:04:05.010Z", { attempt: 1, worker: "host-a/42 (serve)" }),
        event("retry", "2026-01-02T03:04:06.000Z", {
          attempt: 1,
          worker: "host-a/42 (serve)",
          errorCode: "provider_unavailable",
          detail: "attempt 1 failed (provider_unavailable: 503); retrying in 1s",
        }),
        event("started", "2026-01-02T03:04:07.000Z", { attempt: 2, worker: "host-a/42 (serve)" }),
        event("failed", "2026-01-02T03:04:08.000Z", { attempt: 2, errorCode: "bad_input" }),
        event("dead_lettered", "2026-01-02T03:04:08.001Z", { attempt: 2, errorCode: "bad_input" }),
        event("replayed", "2026-01-02T03:05:00.000Z", { relatedJobId: REPLAY }),
        event("teleported", "2026-01-02T03:06:00.000Z"),
      ],
    },
  },
};

function renderHistory(handler: ConstructorParameters<typeof FakeGraphQL>[0][string], revision = "COMPLETED/2") {
  const server = new FakeGraphQL({ JobHistory: handler });
  const rendered = renderApp(<JobHistory id={JOB_ID} revision={revision} />, { server, token: "t" });
  return { ...rendered, server };
}

describe("JobHistory", () => {
  it("lists the stored events oldest first, with attempts, workers, errors and the related job", async () => {
    const { server } = renderHistory(HISTORY);
    const list = await screen.findByRole("list", { name: "Job history" });
    expect(server.calls.find((c) => c.operationName === "JobHistory")?.variables).toEqual({ id: JOB_ID });
    const items = [...list.querySelectorAll("li")];
    expect(items.map((li) => li.querySelector("strong")?.textContent)).toEqual([
      "Submitted",
      "Attempt started",
      "Attempt failed, retrying",
      "Attempt started",
      "Failed",
      "Moved to the dead letters",
      "Replayed",
      "teleported",
    ]);
    const text = items.map((li) => li.textContent ?? "");
    expect(text[1]).toContain("attempt 1");
    expect(text[1]).toContain("host-a/42 (serve)");
    expect(text[2]).toContain("provider_unavailable");
    expect(text[2]).toContain("retrying in 1s");
    const link = items[6]?.querySelector("a");
    expect(link?.getAttribute("href")).toBe(`/jobs/${REPLAY}`);
  });

  it("asks again when the live state moves on", async () => {
    function Page() {
      const [revision, setRevision] = useState("RUNNING/1");
      return (
        <>
          <button onClick={() => setRevision("COMPLETED/1")}>ended</button>
          <JobHistory id={JOB_ID} revision={revision} />
        </>
      );
    }
    const server = new FakeGraphQL({ JobHistory: HISTORY });
    renderApp(<Page />, { server, token: "t" });
    await screen.findByRole("list", { name: "Job history" });
    const before = server.calls.filter((c) => c.operationName === "JobHistory").length;
    fireEvent.click(screen.getByRole("button", { name: "ended" }));
    await waitFor(() =>
      expect(server.calls.filter((c) => c.operationName === "JobHistory").length).toBeGreaterThan(before),
    );
  });

  it("says so when the history cannot be read", async () => {
    renderHistory(gqlError("unavailable", "no history here"));
    expect(await screen.findByText(/could not be read/)).toBeTruthy();
  });

  it("names a kind it does not know by its name", () => {
    expect(eventLabel("dead_lettered")).toBe("Moved to the dead letters");
    expect(eventLabel("something_new")).toBe("something_new");
  });
});
