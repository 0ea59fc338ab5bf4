import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import type { JobStatus } from "../api/types";
import { fakeFetch, renderApp, status, WEATHER_TYPE } from "../test/helpers";
import { JobsPage } from "./JobsPage";

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

  it("keeps itself up to date", async () => {
    const { calls } = renderJobs({ "": { jobs: [], next_cursor: null } });
    expect(await screen.findByText(/No jobs yet/)).toBeTruthy();
    const before = listCalls(calls).length;
    await waitFor(() => expect(listCalls(calls).length).toBeGreaterThan(before), { timeout: 4000 });
  });
});
