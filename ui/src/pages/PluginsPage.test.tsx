import { screen, within } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { DICE_TYPE, fakeFetch, renderApp, WEATHER_TYPE } from "../test/helpers";
import { PluginsPage } from "./PluginsPage";

function renderPlugins() {
  const fake = fakeFetch({
    "GET /v1/job-types": {
      body: {
        job_types: [
          { ...WEATHER_TYPE, in_flight: 3, isolation: "process", runner_crashes: 0 },
          { ...DICE_TYPE, pools: 0 },
          {
            ...DICE_TYPE,
            job_type: "poison",
            name: "Poison",
            isolation: "process",
            runner_crashes: 7,
            crash_looping: true,
            last_crash: "was killed by signal SIGSEGV (11)",
          },
        ],
      },
    },
  });
  return renderApp(
    <Routes>
      <Route path="/plugins" element={<PluginsPage />} />
    </Routes>,
    { fetch: fake.fetch, route: "/plugins", token: "t" },
  );
}

describe("PluginsPage", () => {
  it("shows each plugin's metadata and whether a pool takes its jobs", async () => {
    renderPlugins();
    const weather = (await screen.findByRole("heading", { name: "Weather" })).closest("li")!;
    expect(within(weather).getByText("Healthy")).toBeTruthy();
    expect(within(weather).getByText("1.0.0")).toBeTruthy();
    expect(within(weather).getByText("8 workers")).toBeTruthy();
    expect(within(weather).getByText("3")).toBeTruthy();

    expect(within(weather).getByText("in its own processes")).toBeTruthy();

    const dice = screen.getByRole("heading", { name: "Dice roller" }).closest("li")!;
    expect(within(dice).getByText("No worker")).toBeTruthy();
    expect(within(dice).queryByText("Healthy")).toBeNull();
  });

  it("says when a plugin's runners keep crashing, and how the last one ended", async () => {
    renderPlugins();
    const poison = (await screen.findByRole("heading", { name: "Poison" })).closest("li")!;
    expect(within(poison).getByText("Crashing")).toBeTruthy();
    expect(within(poison).getByText("This plugin keeps crashing")).toBeTruthy();
    expect(within(poison).getByText(/killed by signal SIGSEGV/)).toBeTruthy();
    expect(within(poison).getByText("in its own processes, 7 crashed")).toBeTruthy();
  });
});
