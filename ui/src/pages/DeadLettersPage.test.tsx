import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import type { DeadLetter } from "../api/types";
import { FakeGraphQL, gqlError, jobTypes, renderApp, WEATHER_TYPE } from "../test/helpers";
import { DeadLettersPage } from "./DeadLettersPage";

const FIRST = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
const SECOND = "6f1c2a34-8b2e-4d7a-9c1e-2f3a4b5c6d7e";
const NEW_JOB = "9b20fde8-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

function letter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    __typename: "DeadLetter",
    jobId: FIRST,
    jobType: "weather",
    traceId: "t",
    submittedAt: "2026-01-02T03:04:00.000Z",
    payload: { city: "Atlantis" },
    error: { __typename: "JobError", code: "city_not_found", message: "no city named Atlantis" },
    attempts: 3,
    failedAt: "2026-01-02T03:04:05.000Z",
    replayedAs: null,
    ...overrides,
  };
}

const listed = (...letters: DeadLetter[]) => ({ data: { deadLetters: letters } });

function renderPage(handlers: ConstructorParameters<typeof FakeGraphQL>[0], route = "/dead-letters?type=weather") {
  const server = new FakeGraphQL({ JobTypes: jobTypes(WEATHER_TYPE), ...handlers });
  renderApp(
    <Routes>
      <Route path="/dead-letters" element={<DeadLettersPage />} />
    </Routes>,
    { server, route, token: "t" },
  );
  return server;
}

const card = async (id: string) =>
  (await screen.findByRole("link", { name: id.slice(0, 8) })).closest("li") as HTMLElement;

describe("DeadLettersPage", () => {
  it("lists the type's dead letters with the error, the attempts and the payload", async () => {
    const server = renderPage({
      DeadLetters: listed(letter(), letter({ jobId: SECOND, replayedAs: NEW_JOB, attempts: 1 })),
    });
    const first = await card(FIRST);
    expect(within(first).getByText("city_not_found")).toBeTruthy();
    expect(within(first).getByText(/no city named Atlantis/)).toBeTruthy();
    expect(within(first).getByText("3")).toBeTruthy();
    expect(within(first).getByText(/"city": "Atlantis"/)).toBeTruthy();
    expect(server.callsOf("DeadLetters")[0]?.variables).toEqual({ jobType: "weather", first: 100 });
    // A replayed one links to its replay and cannot be replayed again.
    const second = await card(SECOND);
    expect(within(second).getByRole("link", { name: NEW_JOB.slice(0, 8) }).getAttribute("href")).toBe(`/jobs/${NEW_JOB}`);
    expect((within(second).getByRole("button", { name: "Replayed" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("lists every type without one, and says when there are none", async () => {
    const server = renderPage({ DeadLetters: listed() }, "/dead-letters");
    expect(await screen.findByText("No dead letters: no job has failed for good.")).toBeTruthy();
    expect(server.callsOf("DeadLetters")[0]?.variables).toEqual({ jobType: null, first: 100 });
    expect(screen.queryByRole("button", { name: "Replay all" })).toBeNull();
  });

  it("replays one and links to the new job, then reads the list again", async () => {
    const server = renderPage({
      DeadLetters: listed(letter()),
      ReplayDeadLetter: { data: { replayDeadLetter: NEW_JOB } },
    });
    fireEvent.click(within(await card(FIRST)).getByRole("button", { name: "Replay" }));
    const done = await screen.findByText(/replayed as/);
    expect(within(done).getByRole("link").getAttribute("href")).toBe(`/jobs/${NEW_JOB}`);
    expect(server.callsOf("ReplayDeadLetter")[0]).toMatchObject({
      variables: { id: FIRST },
      headers: { Authorization: "Bearer t" },
    });
    await waitFor(() => expect(server.callsOf("DeadLetters").length).toBeGreaterThan(1));
  });

  it("says when a dead letter was replayed already", async () => {
    renderPage({ DeadLetters: listed(letter()), ReplayDeadLetter: gqlError("conflict", "job was already replayed as x") });
    fireEvent.click(within(await card(FIRST)).getByRole("button", { name: "Replay" }));
    expect(await screen.findByText("Already done: job was already replayed as x")).toBeTruthy();
  });

  it("deletes one", async () => {
    const server = renderPage({
      DeadLetters: listed(letter()),
      DeleteDeadLetter: { data: { deleteDeadLetter: FIRST } },
    });
    fireEvent.click(within(await card(FIRST)).getByRole("button", { name: "Delete" }));
    expect(await screen.findByText(`Dead letter of job ${FIRST.slice(0, 8)} deleted.`)).toBeTruthy();
    expect(server.callsOf("DeleteDeadLetter")[0]?.variables).toEqual({ id: FIRST });
  });

  it("replays all of the type only once confirmed", async () => {
    const server = renderPage({
      DeadLetters: listed(letter(), letter({ jobId: SECOND })),
      ReplayDeadLetters: { data: { replayDeadLetters: { jobType: "weather", replayed: 2 } } },
    });
    await card(FIRST);
    fireEvent.click(screen.getByRole("button", { name: "Replay all" }));
    expect(screen.getByText("Replay every dead letter of Weather not replayed yet?")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Keep them" }));
    expect(server.callsOf("ReplayDeadLetters")).toHaveLength(0);
    fireEvent.click(screen.getByRole("button", { name: "Replay all" }));
    fireEvent.click(screen.getByRole("button", { name: "Replay them" }));
    expect(await screen.findByText("Replayed 2 dead letters of Weather.")).toBeTruthy();
    expect(server.callsOf("ReplayDeadLetters")[0]?.variables).toEqual({ jobType: "weather" });
  });

  it("asks for an admin key when the key's scope is too small", async () => {
    renderPage({ DeadLetters: listed(letter()), DeleteDeadLetter: gqlError("forbidden", "this needs admin") });
    fireEvent.click(within(await card(FIRST)).getByRole("button", { name: "Delete" }));
    expect(await screen.findByText(/This needs a key with the admin scope/)).toBeTruthy();
  });
});
