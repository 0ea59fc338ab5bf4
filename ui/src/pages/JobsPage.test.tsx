import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../api/types";
import { FakeEventSource, fakeFetch, renderApp, status, WEATHER_TYPE } from "../test/helpers";
import { JobsPage, RELOAD_DEBOUNCE_MS } from "./JobsPage";

const id = (n: number) => `${String(n).padStart(8, "0")}-0000-4000-8000-000000000000`;

function renderJobs(pages: Record<string, { jobs: JobStatus[]; next_cursor: string | null }>) {
  const fake = fakeFetch({
    "GET /v1/job-types": { body: { job_types: [WEATHER_TYPE] } },
    "GET /v1/jobs": ({ url }) => ({ body: pages[url.searchParams.get("cursor") ?? ""] ?? { jobs: [], next_cursor: null } }),
    [`POST /v1/jobs/${id(1)}/cancel`]: { body: status({ job_id: id(1), state: "cancelled", message: "cancelled" }) },
  });
  const rendered = renderApp(
    <Routes>
      <Route path="/jobs" element={<JobsPage />} />
    </Routes>,
    { fetch: fake.fetch, route: "/jobs", token: "t" },
  );
  return { ...rendered, calls: fake.calls };
}

const listCalls = (calls: { url: URL; method: string }[]) =>
  calls.filter((c) => c.method === "GET" && c.url.pathname === "/v1/jobs");

describe("JobsPage", () => {
  it("lists jobs, filters by state and type, pages with the cursor", async () => {
    const { calls } = renderJobs({
      "": {
        jobs: [
          status({ job_id: id(1), state: "running", progress_percent: 50, message: "half way" }),
          status({ job_id: id(2), state: "completed", progress_percent: 100, message: "completed" }),
        ],
        next_cursor: "cursor-2",
      },
      "cursor-2": { jobs: [status({ job_id: id(3), state: "failed", error_message: "boom" })], next_cursor: null },
    });
    const table = await screen.findByRole("table");
    expect(within(table).getAllByRole("row")).toHaveLength(3);
    expect(within(table).getByText("half way")).toBeTruthy();
    expect(within(table).getByRole("progressbar", { name: `Progress of job ${id(1).slice(0, 8)}` }).getAttribute("aria-valuenow")).toBe("50");
    // Only jobs that have not ended can be cancelled.
    expect(within(table).getAllByRole("button", { name: /Cancel job/ })).toHaveLength(1);

    fireEvent.click(screen.getByRole("button", { name: "Older →" }));
    expect(await within(await screen.findByRole("table")).findByText("boom")).toBeTruthy();
    expect(listCalls(calls).at(-1)?.url.searchParams.get("cursor")).toBe("cursor-2");
    expect(screen.getByText("Page 2")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "← Newer" }));
    expect(await screen.findByText("half way")).toBeTruthy();

    fireEvent.change(screen.getByLabelText("State"), { target: { value: "running" } });
    await waitFor(() => expect(listCalls(calls).at(-1)?.url.searchParams.get("state")).toBe("running"));
    await screen.findByRole("option", { name: "Weather" });
    fireEvent.change(screen.getByLabelText("Type"), { target: { value: "weather" } });
    await waitFor(() => expect(listCalls(calls).at(-1)?.url.searchParams.get("job_type")).toBe("weather"));
    expect(listCalls(calls).at(-1)?.url.searchParams.get("cursor")).toBeNull();
  });

  it("cancels from the list", async () => {
    const { calls } = renderJobs({
      "": { jobs: [status({ job_id: id(1), state: "running", progress_percent: 50 })], next_cursor: null },
    });
    fireEvent.click(await screen.findByRole("button", { name: `Cancel job ${id(1).slice(0, 8)}` }));
    expect(await screen.findByText(`Job ${id(1).slice(0, 8)} cancelled.`)).toBeTruthy();
    expect(within(screen.getByRole("table")).getByText("Cancelled")).toBeTruthy();
    expect(calls.find((c) => c.method === "POST")?.url.pathname).toBe(`/v1/jobs/${id(1)}/cancel`);
  });

  it("keeps a row's end when the cancel's reply comes after it", async () => {
    const fake = fakeFetch({
      "GET /v1/job-types": { body: { job_types: [WEATHER_TYPE] } },
      "GET /v1/jobs": { body: { jobs: [status({ job_id: id(1), state: "running" })], next_cursor: null } },
      // The job ends, and its event arrives, while the cancel is answered.
      [`POST /v1/jobs/${id(1)}/cancel`]: () => {
        FakeEventSource.latest().emit(status({ job_id: id(1), state: "cancelled", message: "cancelled" }));
        return { body: status({ job_id: id(1), state: "running", message: "cancel requested" }) };
      },
    });
    renderApp(
      <Routes>
        <Route path="/jobs" element={<JobsPage />} />
      </Routes>,
      { fetch: fake.fetch, route: "/jobs", token: "t" },
    );
    fireEvent.click(await screen.findByRole("button", { name: `Cancel job ${id(1).slice(0, 8)}` }));
    expect(await screen.findByText(`Job ${id(1).slice(0, 8)} cancelled.`)).toBeTruthy();
    expect(within(screen.getByRole("table")).getByText("Cancelled")).toBeTruthy();
  });

  it("follows one stream of every job, filtered by the page's type, and never polls", async () => {
    const { calls } = renderJobs({
      "": {
        jobs: [status({ job_id: id(1), state: "running", progress_percent: 50, message: "half way" })],
        next_cursor: null,
      },
    });
    const table = await screen.findByRole("table");
    const source = FakeEventSource.latest();
    expect(new URL(source.url, "http://dtq.test").pathname).toBe("/v1/events");
    source.open();
    expect(await screen.findByText("Updating live")).toBeTruthy();
    await waitFor(() => expect(listCalls(calls)).toHaveLength(2)); // the first read, and one on opening

    source.emit(status({ job_id: id(1), state: "running", progress_percent: 80, message: "nearly" }));
    expect(await within(table).findByText("nearly")).toBeTruthy();
    expect(within(table).getByRole("progressbar").getAttribute("aria-valuenow")).toBe("80");
    source.emit(status({ job_id: id(1), state: "completed", progress_percent: 100, message: "done" }));
    expect(await within(table).findByText("Completed")).toBeTruthy();
    expect(within(table).queryByRole("button", { name: /Cancel job/ })).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, RELOAD_DEBOUNCE_MS * 2));
    expect(listCalls(calls)).toHaveLength(2);

    await screen.findByRole("option", { name: "Weather" });
    fireEvent.change(screen.getByLabelText("Type"), { target: { value: "weather" } });
    await waitFor(() => expect(FakeEventSource.latest()).not.toBe(source));
    expect(source.closed).toBe(true);
    const filtered = new URL(FakeEventSource.latest().url, "http://dtq.test");
    expect(filtered.pathname).toBe("/v1/events");
    expect(filtered.searchParams.get("job_type")).toBe("weather");
  });

  it("re-reads the first page once for a burst of jobs it does not show", async () => {
    const { calls } = renderJobs({ "": { jobs: [], next_cursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    const source = FakeEventSource.latest();
    source.open();
    await waitFor(() => expect(listCalls(calls)).toHaveLength(2));
    for (let n = 2; n < 6; n++) source.emit(status({ job_id: id(n), state: "queued" }));
    await waitFor(() => expect(listCalls(calls)).toHaveLength(3));
    await new Promise((resolve) => setTimeout(resolve, RELOAD_DEBOUNCE_MS * 2));
    expect(listCalls(calls)).toHaveLength(3);
  });

  it("re-reads the page when a row leaves the state it is filtered by", async () => {
    const { calls } = renderJobs({ "": { jobs: [status({ job_id: id(1), state: "running" })], next_cursor: null } });
    await screen.findByRole("table");
    fireEvent.change(screen.getByLabelText("State"), { target: { value: "running" } });
    await waitFor(() => expect(listCalls(calls).at(-1)?.url.searchParams.get("state")).toBe("running"));
    const source = FakeEventSource.latest();
    // Filtered by state, the stream would never tell of the change that takes a row out.
    expect(new URL(source.url, "http://dtq.test").searchParams.get("state")).toBeNull();
    const before = listCalls(calls).length;
    // Another job in another state: not one for this page.
    source.emit(status({ job_id: id(2), state: "queued" }));
    source.emit(status({ job_id: id(1), state: "completed", progress_percent: 100 }));
    await waitFor(() => expect(listCalls(calls)).toHaveLength(before + 1));
  });

  it("does not re-read for jobs it does not show past the first page", async () => {
    const { calls } = renderJobs({
      "": { jobs: [status({ job_id: id(1), state: "completed" })], next_cursor: "cursor-2" },
      "cursor-2": { jobs: [status({ job_id: id(3), state: "completed", message: "older" })], next_cursor: null },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Older →" }));
    expect(await screen.findByText("older")).toBeTruthy();
    const before = listCalls(calls).length;
    FakeEventSource.latest().emit(status({ job_id: id(4), state: "queued" }));
    await new Promise((resolve) => setTimeout(resolve, RELOAD_DEBOUNCE_MS * 2));
    expect(listCalls(calls)).toHaveLength(before);
  });

  it("shows a lost stream and re-reads the page when it reopens", async () => {
    const { calls, services } = renderJobs({ "": { jobs: [], next_cursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    const source = FakeEventSource.latest();
    source.open();
    await waitFor(() => expect(listCalls(calls)).toHaveLength(2));
    source.fail();
    expect(await screen.findByText("Reconnecting…")).toBeTruthy();
    expect(services.connection.get().state).toBe("lost");
    source.open();
    expect(await screen.findByText("Updating live")).toBeTruthy();
    await waitFor(() => expect(listCalls(calls)).toHaveLength(3));
    expect(services.connection.get().state).toBe("restored");
  });

  it("opens the stream again later when the server refuses it", async () => {
    renderJobs({ "": { jobs: [], next_cursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    const refused = FakeEventSource.latest();
    refused.fail(true); // e.g. 429: too many streams
    expect(await screen.findByText("Reconnecting…")).toBeTruthy();
    await waitFor(() => expect(FakeEventSource.latest()).not.toBe(refused), { timeout: 3000 });
    FakeEventSource.latest().open();
    expect(await screen.findByText("Updating live")).toBeTruthy();
  });
});
