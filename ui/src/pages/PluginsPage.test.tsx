// The Plugins page reads one query: rendered here under Apollo's own
// MockedProvider, with the query the page sends and the answer it gets.
import type { MockLink } from "@apollo/client/testing";
import { MockedProvider } from "@apollo/client/testing/react";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import { JOB_TYPES } from "../api/documents";
import { DICE_TYPE, WEATHER_TYPE } from "../test/helpers";
import { PluginsPage } from "./PluginsPage";

function renderPlugins(result: MockLink.MockedResponse[]) {
  return render(
    <MockedProvider mocks={result}>
      <MemoryRouter initialEntries={["/plugins"]}>
        <PluginsPage />
      </MemoryRouter>
    </MockedProvider>,
  );
}

describe("PluginsPage", () => {
  it("shows each plugin's metadata and whether a pool takes its jobs", async () => {
    renderPlugins([
      {
        request: { query: JOB_TYPES },
        result: { data: { jobTypes: [{ ...WEATHER_TYPE, inFlight: 3 }, { ...DICE_TYPE, pools: 0, healthy: false }] } },
      },
    ]);
    const weather = (await screen.findByRole("heading", { name: "Weather" })).closest("li")!;
    expect(within(weather).getByText("Healthy")).toBeTruthy();
    expect(within(weather).getByText("1.0.0")).toBeTruthy();
    expect(within(weather).getByText("8 workers")).toBeTruthy();
    expect(within(weather).getByText("3")).toBeTruthy();
    expect(within(weather).getByText("City (required), Country, Units")).toBeTruthy();

    const dice = screen.getByRole("heading", { name: "Dice roller" }).closest("li")!;
    expect(within(dice).getByText("No worker")).toBeTruthy();
    expect(within(dice).queryByText("Healthy")).toBeNull();
    expect(within(dice).getByRole("link", { name: "New Dice roller job" }).getAttribute("href")).toBe("/?type=dice");
  });

  it("says why it cannot list them, in the server's words", async () => {
    renderPlugins([
      {
        request: { query: JOB_TYPES },
        result: { errors: [{ message: "a bearer token is required", extensions: { code: "unauthorized" } }] },
      },
    ]);
    expect(await screen.findByText("Could not load the plugins")).toBeTruthy();
    expect(screen.getByText(/This server needs an API key/)).toBeTruthy();
  });
});
