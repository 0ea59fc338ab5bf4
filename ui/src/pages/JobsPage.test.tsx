import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../api/types";
import { FakeGraphQL, gqlError, jobsPage, jobTypes, renderApp, status, WEATHER_TYPE } from "../test/helpers";
import { JobsPage, RELOAD_DEBOUNCE_MS } from "./JobsPage";

const id = (n: number) => `${String(n).padStart(8, "0")}-0000-4000-8000-000000000000`;

function renderJobs(pages: Record<string, { nodes: JobStatus[]; endCursor: string | null }>, handlers: ConstructorParameters<typeof FakeGraphQL>[0] = {}) {
  const server = new FakeGraphQL({
    JobTypes: jobTypes(WEATHER_TYPE),
    Jobs: (variables) => {
      const page = pages[(variables.after as string | null) ?? ""] ?? { nodes: [], endCursor: null };
      return jobsPage(page.nodes, page.endCursor);
    },
    CancelJob: { data: { cancelJob: status({ jobId: id(1), state: "CANCELLED", message: "cancelled" }) } },
    ...handlers,
  });
  const rendered = renderApp(
    <Routes>
      <Route path="/jobs" element={<JobsPage />} />
    </Routes>,
    { server, route: "/jobs", token: "t" },
  );
  return { ...rendered, server };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A jobChanges item: one job's status. */
const change = (job: JobStatus) => ({ __typename: "JobChange", watching: false, status: job });
/** The jobChanges item that says the server has registered the watch. */
const WATCHING = { __typename: "JobChange", watching: true, status: null };

describe("JobsPage", () => {
  it("lists jobs, filters by state and type, pages with the cursor", async () => {
    const { server } = renderJobs({
      "": {
        nodes: [
          status({ jobId: id(1), state: "RUNNING", progressPercent: 50, message: "half way", priority: "HIGH" }),
          status({ jobId: id(2), state: "COMPLETED", progressPercent: 100, message: "completed" }),
        ],
        endCursor: "cursor-2",
      },
      "cursor-2": { nodes: [status({ jobId: id(3), state: "FAILED", errorMessage: "boom" })], endCursor: null },
    });
    const table = await screen.findByRole("table");
    expect(within(table).getAllByRole("row")).toHaveLength(3);
    expect(within(table).getByText("half way")).toBeTruthy();
    expect(within(table).getByRole("columnheader", { name: "Priority" })).toBeTruthy();
    expect(within(table).getByText("High")).toBeTruthy();
    expect(within(table).getByText("Normal")).toBeTruthy();
    expect(within(table).getByRole("progressbar", { name: `Progress of job ${id(1).slice(0, 8)}` }).getAttribute("aria-valuenow")).toBe("50");
    // Only jobs that have not ended can be cancelled.
    expect(within(table).getAllByRole("button", { name: /Cancel job/ })).toHaveLength(1);
    expect(server.callsOf("Jobs")[0]?.variables).toEqual({ state: null, jobType: null, first: 20, after: null });

    fireEvent.click(screen.getByRole("button", { name: "Older →" }));
    expect(await within(await screen.findByRole("table")).findByText("boom")).toBeTruthy();
    expect(server.callsOf("Jobs").at(-1)?.variables.after).toBe("cursor-2");
    expect(screen.getByText("Page 2")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "← Newer" }));
    expect(await screen.findByText("half way")).toBeTruthy();

    fireEvent.change(screen.getByLabelText("State"), { target: { value: "running" } });
    await waitFor(() => expect(server.callsOf("Jobs").at(-1)?.variables.state).toBe("RUNNING"));
    await screen.findByRole("option", { name: "Weather" });
    fireEvent.change(screen.getByLabelText("Type"), { target: { value: "weather" } });
    await waitFor(() => expect(server.callsOf("Jobs").at(-1)?.variables.jobType).toBe("weather"));
    expect(server.callsOf("Jobs").at(-1)?.variables.after).toBeNull();
  });

  it("cancels from the list", async () => {
    const { server } = renderJobs({
      "": { nodes: [status({ jobId: id(1), state: "RUNNING", progressPercent: 50 })], endCursor: null },
    });
    fireEvent.click(await screen.findByRole("button", { name: `Cancel job ${id(1).slice(0, 8)}` }));
    expect(await screen.findByText(`Job ${id(1).slice(0, 8)} cancelled.`)).toBeTruthy();
    expect(within(screen.getByRole("table")).getByText("Cancelled")).toBeTruthy();
    expect(server.callsOf("CancelJob")[0]).toMatchObject({ variables: { id: id(1) }, headers: { Authorization: "Bearer t" } });
  });

  it("keeps a row's end when the cancel's reply comes after it", async () => {
    let server!: FakeGraphQL;
    ({ server } = renderJobs(
      { "": { nodes: [status({ jobId: id(1), state: "RUNNING" })], endCursor: null } },
      {
        // The job ends, and its event arrives, while the cancel is answered.
        CancelJob: () => {
          server.latest("JobChanges").emit("jobChanges", change(status({ jobId: id(1), state: "CANCELLED", message: "cancelled" })));
          return { data: { cancelJob: status({ jobId: id(1), state: "RUNNING", message: "cancel requested" }) } };
        },
      },
    ));
    fireEvent.click(await screen.findByRole("button", { name: `Cancel job ${id(1).slice(0, 8)}` }));
    expect(await screen.findByText(`Job ${id(1).slice(0, 8)} cancelled.`)).toBeTruthy();
    expect(within(screen.getByRole("table")).getByText("Cancelled")).toBeTruthy();
  });

  it("follows one subscription of every job, filtered by the page's type, and never polls", async () => {
    const { server } = renderJobs({
      "": { nodes: [status({ jobId: id(1), state: "RUNNING", progressPercent: 50, message: "half way" })], endCursor: null },
    });
    const table = await screen.findByRole("table");
    const events = server.latest("JobChanges");
    expect(events.variables).toEqual({ jobType: null });
    act(() => events.emit("jobChanges", WATCHING));
    expect(await screen.findByText("Updating live")).toBeTruthy();
    await waitFor(() => expect(server.callsOf("Jobs").length).toBeGreaterThan(1));
    const reads = server.callsOf("Jobs").length;

    act(() => events.emit("jobChanges", change(status({ jobId: id(1), state: "RUNNING", progressPercent: 80, message: "nearly" }))));
    expect(await within(table).findByText("nearly")).toBeTruthy();
    expect(within(table).getByRole("progressbar").getAttribute("aria-valuenow")).toBe("80");
    act(() => events.emit("jobChanges", change(status({ jobId: id(1), state: "COMPLETED", progressPercent: 100, message: "done" }))));
    expect(await within(table).findByText("Completed")).toBeTruthy();
    expect(within(table).queryByRole("button", { name: /Cancel job/ })).toBeNull();
    await sleep(RELOAD_DEBOUNCE_MS * 2);
    expect(server.callsOf("Jobs")).toHaveLength(reads);

    await screen.findByRole("option", { name: "Weather" });
    fireEvent.change(screen.getByLabelText("Type"), { target: { value: "weather" } });
    await waitFor(() => expect(server.latest("JobChanges")).not.toBe(events));
    expect(events.closed).toBe(true);
    expect(server.latest("JobChanges").variables).toEqual({ jobType: "weather" });
    expect(screen.getByText("Connecting…")).toBeTruthy();
  });

  it("re-reads the page when the server says its watch is established, so a job submitted before is not missed", async () => {
    const pages: Record<string, { nodes: JobStatus[]; endCursor: string | null }> = { "": { nodes: [], endCursor: null } };
    const { server } = renderJobs(pages);
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    expect(screen.getByText("Connecting…")).toBeTruthy();
    // Submitted after the first read, before the watch was registered: no event tells of it.
    pages[""] = { nodes: [status({ jobId: id(9), state: "RUNNING", message: "unseen" })], endCursor: null };
    act(() => server.latest("JobChanges").emit("jobChanges", WATCHING));
    expect(await within(await screen.findByRole("table")).findByText("unseen")).toBeTruthy();
    expect(screen.getByText("Updating live")).toBeTruthy();
  });

  it("re-reads the first page once for a burst of jobs it does not show", async () => {
    const { server } = renderJobs({ "": { nodes: [], endCursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    const reads = server.callsOf("Jobs").length;
    const events = server.latest("JobChanges");
    act(() => {
      for (let n = 2; n < 6; n++) events.emit("jobChanges", change(status({ jobId: id(n), state: "QUEUED" })));
    });
    await waitFor(() => expect(server.callsOf("Jobs")).toHaveLength(reads + 1));
    await sleep(RELOAD_DEBOUNCE_MS * 2);
    expect(server.callsOf("Jobs")).toHaveLength(reads + 1);
  });

  it("re-reads the page when a row leaves the state it is filtered by", async () => {
    const { server } = renderJobs({ "": { nodes: [status({ jobId: id(1), state: "RUNNING" })], endCursor: null } });
    await screen.findByRole("table");
    fireEvent.change(screen.getByLabelText("State"), { target: { value: "running" } });
    await waitFor(() => expect(server.callsOf("Jobs").at(-1)?.variables.state).toBe("RUNNING"));
    await screen.findByRole("table");
    const events = server.latest("JobChanges");
    // Filtered by state, the subscription would never tell of the change that takes a row out.
    expect(events.variables.state).toBeUndefined();
    const before = server.callsOf("Jobs").length;
    // Another job in another state: not one for this page.
    act(() => events.emit("jobChanges", change(status({ jobId: id(2), state: "QUEUED" }))));
    act(() => events.emit("jobChanges", change(status({ jobId: id(1), state: "COMPLETED", progressPercent: 100 }))));
    await waitFor(() => expect(server.callsOf("Jobs")).toHaveLength(before + 1));
  });

  it("does not re-read for jobs it does not show past the first page", async () => {
    const { server } = renderJobs({
      "": { nodes: [status({ jobId: id(1), state: "COMPLETED" })], endCursor: "cursor-2" },
      "cursor-2": { nodes: [status({ jobId: id(3), state: "COMPLETED", message: "older" })], endCursor: null },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Older →" }));
    expect(await screen.findByText("older")).toBeTruthy();
    const before = server.callsOf("Jobs").length;
    act(() => server.latest("JobChanges").emit("jobChanges", change(status({ jobId: id(4), state: "QUEUED" }))));
    await sleep(RELOAD_DEBOUNCE_MS * 2);
    expect(server.callsOf("Jobs")).toHaveLength(before);
  });

  it("shows a lost connection and re-reads the page when it is back", async () => {
    const { server, services } = renderJobs({ "": { nodes: [], endCursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    act(() => server.latest("JobChanges").emit("jobChanges", WATCHING));
    expect(await screen.findByText("Updating live")).toBeTruthy();
    await waitFor(() => expect(server.callsOf("Jobs").length).toBeGreaterThan(1));
    const reads = server.callsOf("Jobs").length;
    act(() => services.connection.reportLost());
    expect(await screen.findByText("Reconnecting…")).toBeTruthy();
    act(() => services.connection.reportConnected());
    expect(await screen.findByText("Updating live")).toBeTruthy();
    await waitFor(() => expect(server.callsOf("Jobs")).toHaveLength(reads + 1));
  });

  it("subscribes again later when the server refuses the subscription", async () => {
    const { server } = renderJobs({ "": { nodes: [], endCursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    const refused = server.latest("JobChanges");
    act(() => refused.fail(gqlError("too_many_streams", "too many open subscriptions")));
    expect(await screen.findByText("Reconnecting…")).toBeTruthy();
    await waitFor(() => expect(server.latest("JobChanges")).not.toBe(refused), { timeout: 5000 });
    act(() => server.latest("JobChanges").emit("jobChanges", WATCHING));
    expect(await screen.findByText("Updating live")).toBeTruthy();
  });
});
