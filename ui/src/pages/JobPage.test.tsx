import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { fakeFetch, FakeEventSource, JOB_ID, renderApp, status, WEATHER_TYPE } from "../test/helpers";
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

function renderJob(routes: Parameters<typeof fakeFetch>[0] = {}) {
  const fake = fakeFetch({
    "GET /v1/job-types": { body: { job_types: [WEATHER_TYPE] } },
    [`GET /v1/jobs/${JOB_ID}`]: {
      body: {
        job_id: JOB_ID,
        status: status({ state: "completed", progress_percent: 100 }),
        result: {
          job_id: JOB_ID,
          job_type: "weather",
          input: { city: "Austin" },
          output: OUTPUT,
          final_state: "completed",
          started_at: "2026-01-02T03:04:05.000Z",
          completed_at: "2026-01-02T03:04:07.500Z",
          error: null,
          trace_id: "t",
        },
      },
    },
    ...routes,
  });
  const rendered = renderApp(
    <Routes>
      <Route path="/jobs/:id" element={<JobPage />} />
    </Routes>,
    { fetch: fake.fetch, route: `/jobs/${JOB_ID}`, token: "t" },
  );
  return { ...rendered, calls: fake.calls };
}

const progress = () => screen.getByRole("progressbar", { name: "Job progress" });

describe("JobPage", () => {
  it("follows the job's events: progress, state, message, timeline, then the result", async () => {
    const { calls } = renderJob();
    const source = FakeEventSource.latest();
    expect(source.url).toBe(`/v1/jobs/${JOB_ID}/events`);
    expect(source.headers).toEqual({ Authorization: "Bearer t" });
    act(() => source.open());
    expect(screen.getByText("Live")).toBeTruthy();

    act(() => source.emit(status({ state: "queued", progress_percent: 0, message: "queued" })));
    expect(progress().getAttribute("aria-valuenow")).toBe("0");
    await waitFor(() => expect(screen.getByRole("heading", { level: 1 }).textContent).toMatch(/^Weather job/));

    act(() => source.emit(status({ progress_percent: 20, message: "city resolved: Austin" })));
    expect(progress().getAttribute("aria-valuenow")).toBe("20");
    expect(screen.getByTestId("status-message").textContent).toBe("city resolved: Austin");
    expect(screen.getByRole("button", { name: "Cancel job" })).toBeTruthy();

    act(() => source.emit(status({ state: "completed", progress_percent: 100, message: "completed" })));
    expect(progress().getAttribute("aria-valuenow")).toBe("100");
    expect(source.closed).toBe(true);
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
    expect(calls.filter((c) => c.url.pathname === `/v1/jobs/${JOB_ID}`)).toHaveLength(1);
  });

  it("cancels a running job", async () => {
    const { calls } = renderJob({
      [`POST /v1/jobs/${JOB_ID}/cancel`]: { body: status({ state: "cancelled", message: "cancelled" }) },
    });
    const source = FakeEventSource.latest();
    act(() => source.emit(status({ progress_percent: 50, message: "working" })));
    fireEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    await waitFor(() => expect(screen.getAllByText("Cancelled").length).toBeGreaterThan(0));
    expect(calls.find((c) => c.method === "POST")?.headers.Authorization).toBe("Bearer t");
  });

  it("says when the job had already ended", async () => {
    renderJob({
      [`POST /v1/jobs/${JOB_ID}/cancel`]: {
        status: 409,
        body: { error: { code: "conflict", message: "job already ended", details: [] } },
      },
    });
    act(() => FakeEventSource.latest().emit(status({ progress_percent: 50 })));
    fireEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    expect(await screen.findByText("The job had already ended.")).toBeTruthy();
  });

  it("shows a failure's code and message", () => {
    renderJob();
    act(() =>
      FakeEventSource.latest().emit(
        status({ state: "failed", progress_percent: 20, error_code: "city_not_found", error_message: "no city named Atlantis" }),
      ),
    );
    expect(screen.getByText("Failed: city_not_found")).toBeTruthy();
    expect(screen.getByText("no city named Atlantis")).toBeTruthy();
  });

  it("says the stream is reconnecting after a network error", () => {
    const { services } = renderJob();
    const source = FakeEventSource.latest();
    act(() => source.open());
    act(() => source.fail());
    expect(screen.getByText("Reconnecting…")).toBeTruthy();
    expect(services.connection.get().state).toBe("lost");
    act(() => source.open());
    expect(screen.getByText("Live")).toBeTruthy();
    expect(services.connection.get().state).toBe("restored");
  });

  it("tells an unknown job apart", async () => {
    renderJob({
      [`GET /v1/jobs/${JOB_ID}`]: { status: 404, body: { error: { code: "unknown_job", message: "unknown job", details: [] } } },
    });
    act(() => FakeEventSource.latest().fail(true));
    expect(await screen.findByText("No such job")).toBeTruthy();
  });
});
