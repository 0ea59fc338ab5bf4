// The Plugins page against a fake GraphQL server (test/helpers): the
// jobTypes query it sends and the answer it gets, and its Pause / Resume
// buttons (pauseJobType / resumeJobType, an admin key).
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import type { JobType } from "../api/types";
import { DICE_TYPE, FakeGraphQL, gqlError, WEATHER_TYPE, renderApp } from "../test/helpers";
import { PluginsPage } from "./PluginsPage";

function renderPlugins(handlers: ConstructorParameters<typeof FakeGraphQL>[0]) {
  const server = new FakeGraphQL(handlers);
  renderApp(
    <Routes>
      <Route path="/plugins" element={<PluginsPage />} />
    </Routes>,
    { server, route: "/plugins", token: "t" },
  );
  return server;
}

const card = async (name: string) => (await screen.findByRole("heading", { name })).closest("li") as HTMLElement;

describe("PluginsPage", () => {
  it("shows each plugin's metadata and whether a pool takes its jobs", async () => {
    renderPlugins({
      JobTypes: { data: { jobTypes: [{ ...WEATHER_TYPE, inFlight: 3 }, { ...DICE_TYPE, pools: 0, healthy: false }] } },
    });
    const weather = await card("Weather");
    expect(within(weather).getByText("Healthy")).toBeTruthy();
    expect(within(weather).getByText("1.0.0")).toBeTruthy();
    expect(within(weather).getByText("8 workers")).toBeTruthy();
    expect(within(weather).getByText("3")).toBeTruthy();
    expect(within(weather).getByText("City (required), Country, Units")).toBeTruthy();
    expect(within(weather).getByRole("button", { name: "Pause Weather" })).toBeTruthy();

    const dice = await card("Dice roller");
    expect(within(dice).getByText("No worker")).toBeTruthy();
    expect(within(dice).queryByText("Healthy")).toBeNull();
    expect(within(dice).getByRole("link", { name: "New Dice roller job" }).getAttribute("href")).toBe("/?type=dice");
  });

  it("says why it cannot list them, in the server's words", async () => {
    renderPlugins({ JobTypes: gqlError("unauthorized", "a bearer token is required") });
    expect(await screen.findByText("Could not load the plugins")).toBeTruthy();
    expect(screen.getByText(/This server needs an API key/)).toBeTruthy();
  });

  it("pauses a plugin, shows it paused, and resumes it", async () => {
    let weather: JobType = { ...WEATHER_TYPE };
    const server = renderPlugins({
      JobTypes: () => ({ data: { jobTypes: [weather] } }),
      PauseJobType: (variables) => {
        weather = { ...weather, paused: true };
        return { data: { pauseJobType: { jobType: variables.jobType, paused: true } } };
      },
      ResumeJobType: (variables) => {
        weather = { ...weather, paused: false };
        return { data: { resumeJobType: { jobType: variables.jobType, paused: false } } };
      },
    });
    fireEvent.click(within(await card("Weather")).getByRole("button", { name: "Pause Weather" }));
    expect(await screen.findByText(/Weather paused: its new and queued jobs wait/)).toBeTruthy();
    expect(server.callsOf("PauseJobType")[0]).toMatchObject({
      variables: { jobType: "weather" },
      headers: { Authorization: "Bearer t" },
    });
    // The list is read again: the card says Paused and offers Resume.
    const paused = await card("Weather");
    await waitFor(() => expect(within(paused).getByText("Paused")).toBeTruthy());
    expect(within(paused).queryByText("Healthy")).toBeNull();
    fireEvent.click(within(paused).getByRole("button", { name: "Resume Weather" }));
    expect(await screen.findByText("Weather resumed: its jobs run again.")).toBeTruthy();
    expect(server.callsOf("ResumeJobType")[0]?.variables).toEqual({ jobType: "weather" });
    await waitFor(() => expect(within(paused).getByText("Healthy")).toBeTruthy());
  });

  it("asks for an admin key when the key's scope is too small", async () => {
    renderPlugins({ JobTypes: { data: { jobTypes: [WEATHER_TYPE] } }, PauseJobType: gqlError("forbidden", "this needs admin") });
    fireEvent.click(within(await card("Weather")).getByRole("button", { name: "Pause Weather" }));
    expect(await screen.findByText(/This needs a key with the admin scope/)).toBeTruthy();
  });

  it("says when no worker hosts the plugin any more", async () => {
    renderPlugins({
      JobTypes: { data: { jobTypes: [WEATHER_TYPE] } },
      PauseJobType: gqlError("unknown_job_type", "no pool hosts job type \"weather\""),
    });
    fireEvent.click(within(await card("Weather")).getByRole("button", { name: "Pause Weather" }));
    expect(await screen.findByText("No worker hosts Weather any more.")).toBeTruthy();
  });
});
