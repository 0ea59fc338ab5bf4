import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { FakeGraphQL, gqlError, JOB_ID, jobTypes, renderApp, status, WEATHER_TYPE } from "../test/helpers";
import { JobPage } from "./JobPage";

const OUTPUT = {
  city: "Austin",
  country_code: "US",
  temperature: 22.4,
  temperature_unit: "°C",
  condition: "Partly cloudy",
  humidity_pct: 61,
  wind_kph: 14.8,
};

const JOB = {
  data: {
    job: {
      __typename: "Job",
      id: JOB_ID,
      status: status({ state: "COMPLETED", progressPercent: 100 }),
      result: {
        __typename: "JobResult",
        jobId: JOB_ID,
        jobType: "weather",
        input: { city: "Austin" },
        output: OUTPUT,
        finalState: "COMPLETED",
        startedAt: "2026-01-02T03:04:05.000Z",
        completedAt: "2026-01-02T03:04:07.500Z",
        error: null,
        traceId: "t",
        attempts: 1,
      },
    },
  },
};

function renderJob(handlers: ConstructorParameters<typeof FakeGraphQL>[0] = {}) {
  const server = new FakeGraphQL({ JobTypes: jobTypes(WEATHER_TYPE), Job: JOB, ...handlers });
  const rendered = renderApp(
    <Routes>
      <Route path="/jobs/:id" element={<JobPage />} />
    </Routes>,
    { server, route: `/jobs/${JOB_ID}`, token: "t" },
  );
  return { ...rendered, server };
}

const progress = () => screen.getByRole("progressbar", { name: "Job progress" });

describe("JobPage", () => {
  it("follows the job's subscription: progress, state, message, timeline, then the result", async () => {
    const { server } = renderJob();
    const updates = await waitFor(() => server.latest("JobUpdated"));
    expect(updates.variables).toEqual({ id: JOB_ID });
    expect(screen.getByText("Live")).toBeTruthy();

    act(() => updates.emit("jobUpdated", status({ state: "QUEUED", progressPercent: 0, message: "queued" })));
    expect(progress().getAttribute("aria-valuenow")).toBe("0");
    await waitFor(() => expect(screen.getByRole("heading", { level: 1 }).textContent).toMatch(/^Weather job/));

    act(() => updates.emit("jobUpdated", status({ progressPercent: 20, message: "city resolved: Austin" })));
    expect(progress().getAttribute("aria-valuenow")).toBe("20");
    expect(screen.getByTestId("status-message").textContent).toBe("city resolved: Austin");
    expect(screen.getByRole("button", { name: "Cancel job" })).toBeTruthy();

    act(() => updates.emit("jobUpdated", status({ state: "COMPLETED", progressPercent: 100, message: "completed" })));
    act(() => updates.complete());
    expect(progress().getAttribute("aria-valuenow")).toBe("100");
    expect(screen.getByText("Final")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Cancel job" })).toBeNull();

    const steps = screen.getByRole("list", { name: "Status changes" }).querySelectorAll("li");
    expect([...steps].map((li) => li.querySelector(".timeline-message")?.textContent)).toEqual([
      "queued",
      "city resolved: Austin",
      "completed",
    ]);
    expect((await screen.findByTestId("temperature")).textContent).toBe("22.4°C");
    expect(screen.getByText("(2.5 s)", { exact: false })).toBeTruthy();
    // Pushed, not polled: one read of the job, for its result.
    expect(server.callsOf("Job")).toHaveLength(1);
    expect(server.subscriptions).toHaveLength(1);
  });

  it("shows the job's priority", async () => {
    const { server } = renderJob();
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.emit("jobUpdated", status({ state: "QUEUED", progressPercent: 0, priority: "LOW" })));
    const term = await screen.findByText("Priority", { selector: "dt" });
    expect(term.nextElementSibling?.textContent).toBe("Low");
  });

  it("cancels a running job", async () => {
    const { server } = renderJob({ CancelJob: { data: { cancelJob: status({ state: "CANCELLED", message: "cancelled" }) } } });
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.emit("jobUpdated", status({ progressPercent: 50, message: "working" })));
    fireEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    await waitFor(() => expect(screen.getAllByText("Cancelled").length).toBeGreaterThan(0));
    expect(server.callsOf("CancelJob")[0]).toMatchObject({ variables: { id: JOB_ID }, headers: { Authorization: "Bearer t" } });
  });

  it("shows a scheduled job's time, and its Cancel button cancels it", async () => {
    const { server } = renderJob({ CancelJob: { data: { cancelJob: status({ state: "CANCELLED", message: "cancelled before it was due" }) } } });
    const updates = await waitFor(() => server.latest("JobUpdated"));
    // From a stream the time is in the message only (the status stores keep no runAt).
    act(() =>
      updates.emit(
        "jobUpdated",
        status({ state: "SCHEDULED", progressPercent: 0, message: "scheduled for 2030-01-01T09:30:00.000Z" }),
      ),
    );
    expect((await screen.findAllByText("Scheduled", { selector: ".badge" })).length).toBeGreaterThan(0);
    const when = screen.getByTestId("scheduled-for");
    expect(when.querySelector("time")?.getAttribute("dateTime")).toBe("2030-01-01T09:30:00.000Z");
    fireEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    await waitFor(() => expect(screen.getAllByText("Cancelled").length).toBeGreaterThan(0));
    expect(screen.queryByTestId("scheduled-for")).toBeNull();
    expect(server.callsOf("CancelJob")[0]).toMatchObject({ variables: { id: JOB_ID } });
  });

  it("says when the job had already ended", async () => {
    const { server } = renderJob({ CancelJob: gqlError("conflict", "job already ended") });
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.emit("jobUpdated", status({ progressPercent: 50 })));
    fireEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    expect(await screen.findByText("The job had already ended.")).toBeTruthy();
  });

  it("shows a failure's code and message", async () => {
    const { server } = renderJob();
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() =>
      updates.emit(
        "jobUpdated",
        status({ state: "FAILED", progressPercent: 20, errorCode: "city_not_found", errorMessage: "no city named Atlantis" }),
      ),
    );
    expect(screen.getByText("Failed: city_not_found")).toBeTruthy();
    expect(screen.getByText("no city named Atlantis")).toBeTruthy();
  });

  it("retries a failed job and opens the new one", async () => {
    const NEW_JOB = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    const { server } = renderJob({ RetryJob: { data: { retryJob: NEW_JOB } } });
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.emit("jobUpdated", status({ progressPercent: 50 })));
    expect(screen.queryByRole("button", { name: "Retry job" })).toBeNull();
    act(() => updates.emit("jobUpdated", status({ state: "FAILED", progressPercent: 50, errorCode: "x", errorMessage: "y" })));
    fireEvent.click(screen.getByRole("button", { name: "Retry job" }));
    await waitFor(() => expect(server.latest("JobUpdated").variables).toEqual({ id: NEW_JOB }));
    expect(server.callsOf("RetryJob")[0]).toMatchObject({ variables: { id: JOB_ID }, headers: { Authorization: "Bearer t" } });
  });

  it("says why a job cannot be retried", async () => {
    const { server } = renderJob({ RetryJob: gqlError("conflict", "job ended completed, not failed") });
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.emit("jobUpdated", status({ state: "FAILED", progressPercent: 50 })));
    fireEvent.click(screen.getByRole("button", { name: "Retry job" }));
    expect(await screen.findByText("Cannot retry: job ended completed, not failed")).toBeTruthy();
  });

  it("says it is reconnecting while the socket is down", async () => {
    const { server, services } = renderJob();
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.emit("jobUpdated", status({ progressPercent: 50 })));
    expect(screen.getByText("Live")).toBeTruthy();
    act(() => services.connection.reportLost());
    expect(screen.getByText("Reconnecting…")).toBeTruthy();
    act(() => services.connection.reportConnected());
    expect(screen.getByText("Live")).toBeTruthy();
  });

  it("tells an unknown job apart", async () => {
    const { server } = renderJob();
    const updates = await waitFor(() => server.latest("JobUpdated"));
    act(() => updates.fail(gqlError("unknown_job", "unknown job")));
    expect(await screen.findByText("No such job")).toBeTruthy();
  });

  it("follows the job again once a key is set, when it was refused for want of one", async () => {
    const { server, services } = renderJob();
    const refused = await waitFor(() => server.latest("JobUpdated"));
    act(() => refused.fail(gqlError("unauthorized", "a bearer token is required")));
    expect(await screen.findByText(/This server needs an API key/)).toBeTruthy();
    act(() => services.tokens.set("better"));
    await waitFor(() => expect(server.latest("JobUpdated")).not.toBe(refused));
    act(() => server.latest("JobUpdated").emit("jobUpdated", status({ progressPercent: 80, message: "nearly" })));
    expect(screen.getByTestId("status-message").textContent).toBe("nearly");
  });
});
