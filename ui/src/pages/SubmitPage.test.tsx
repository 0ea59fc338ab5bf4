import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes, useLocation } from "react-router";
import { describe, expect, it } from "vitest";
import { DICE_TYPE, FakeGraphQL, gqlError, jobTypes, renderApp, status, WEATHER_TYPE } from "../test/helpers";
import { scheduleOf, SubmitPage } from "./SubmitPage";

function Where() {
  const location = useLocation();
  return <p data-testid="location">{location.pathname}</p>;
}

const NEW_ID = "11111111-2222-4333-8444-555555555555";
const submitted = {
  data: {
    submitJob: {
      __typename: "SubmitJobPayload",
      jobId: NEW_ID,
      traceId: "t",
      status: status({ jobId: NEW_ID, jobType: "dice", state: "QUEUED" }),
    },
  },
};

function renderSubmit(handlers: ConstructorParameters<typeof FakeGraphQL>[0], token = "t0ken", route = "/") {
  const server = new FakeGraphQL({ JobTypes: jobTypes(DICE_TYPE, WEATHER_TYPE), ...handlers });
  const rendered = renderApp(
    <Routes>
      <Route path="/" element={<SubmitPage />} />
      <Route path="/jobs/:id" element={<Where />} />
    </Routes>,
    { server, token, route },
  );
  return { ...rendered, server };
}

const input = (label: RegExp) => screen.getByLabelText(label, { selector: "input, select" }) as HTMLInputElement;

describe("SubmitPage", () => {
  it("generates a form for a type it has never seen, and submits its payload", async () => {
    const { server } = renderSubmit({ SubmitJob: submitted });
    await screen.findByRole("heading", { level: 2, name: "Dice roller" });
    fireEvent.change(input(/^Sides/), { target: { value: "6" } });
    fireEvent.change(input(/^Label/), { target: { value: "d6" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByTestId("location")).toHaveProperty("textContent", `/jobs/${NEW_ID}`);
    const [submit] = server.callsOf("SubmitJob");
    expect(submit?.variables).toEqual({
      jobType: "dice",
      payload: { sides: 6, count: 1, label: "d6" },
      priority: "NORMAL",
    });
    expect(submit?.headers.Authorization).toBe("Bearer t0ken");
    expect(server.callsOf("JobTypes")[0]?.headers.Authorization).toBe("Bearer t0ken");
  });

  it("submits the priority chosen in its select", async () => {
    const { server } = renderSubmit({ SubmitJob: submitted });
    await screen.findByRole("heading", { level: 2, name: "Dice roller" });
    const priority = screen.getByLabelText("Priority") as HTMLSelectElement;
    expect(priority.value).toBe("NORMAL");
    expect([...priority.options].map((o) => o.textContent)).toEqual(["High", "Normal", "Low"]);
    fireEvent.change(priority, { target: { value: "HIGH" } });
    fireEvent.change(input(/^Sides/), { target: { value: "6" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByTestId("location")).toHaveProperty("textContent", `/jobs/${NEW_ID}`);
    expect(server.callsOf("SubmitJob")[0]?.variables).toMatchObject({ jobType: "dice", priority: "HIGH" });
  });

  it("sends a delay, or a time to run at as RFC 3339, from its When fields", async () => {
    const { server } = renderSubmit({ SubmitJob: submitted });
    await screen.findByRole("heading", { level: 2, name: "Dice roller" });
    fireEvent.change(input(/^Sides/), { target: { value: "6" } });
    fireEvent.change(screen.getByLabelText("Delay, seconds"), { target: { value: "60" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByTestId("location")).toHaveProperty("textContent", `/jobs/${NEW_ID}`);
    expect(server.callsOf("SubmitJob")[0]?.variables).toMatchObject({ jobType: "dice", delaySeconds: 60 });
    expect(server.callsOf("SubmitJob")[0]?.variables).not.toHaveProperty("runAt");
  });

  it("refuses a delay and a time together, or a bad delay, before sending anything", async () => {
    const { server } = renderSubmit({ SubmitJob: submitted });
    await screen.findByRole("heading", { level: 2, name: "Dice roller" });
    fireEvent.change(input(/^Sides/), { target: { value: "6" } });
    fireEvent.change(screen.getByLabelText("Delay, seconds"), { target: { value: "60" } });
    fireEvent.change(screen.getByLabelText("or run at"), { target: { value: "2030-01-01T09:30" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByText("Give a delay or a time to run at, not both.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("or run at"), { target: { value: "" } });
    fireEvent.change(screen.getByLabelText("Delay, seconds"), { target: { value: "1.5" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByText(/The delay is a whole number of seconds/)).toBeTruthy();
    expect(server.callsOf("SubmitJob")).toHaveLength(0);
  });

  it("turns a local time to run at into RFC 3339 UTC", () => {
    expect(scheduleOf("", "")).toEqual({});
    expect(scheduleOf("0", "")).toEqual({ delaySeconds: 0 });
    expect(scheduleOf("", "2030-01-01T09:30")).toEqual({ runAt: new Date("2030-01-01T09:30").toISOString() });
    expect(scheduleOf("-1", "")).toHaveProperty("error");
    expect(scheduleOf(String(365 * 24 * 3600 + 1), "")).toHaveProperty("error");
  });

  it("checks the schema before sending anything", async () => {
    const { server } = renderSubmit({}, "t0ken", "/?type=weather");
    await screen.findByRole("heading", { level: 2, name: "Weather" });
    fireEvent.change(input(/^Country/), { target: { value: "USA" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    expect(await screen.findByText("Required")).toBeTruthy();
    expect(screen.getByText("Not in the expected form, e.g. US")).toBeTruthy();
    expect(server.callsOf("SubmitJob")).toHaveLength(0);
  });

  it("shows the plugin's field errors on their fields", async () => {
    renderSubmit(
      {
        SubmitJob: gqlError("invalid_payload", "invalid payload for weather", [
          { field: "/country_code", message: "no such country: ZZ" },
        ]),
      },
      "t0ken",
      "/?type=weather",
    );
    await screen.findByRole("heading", { level: 2, name: "Weather" });
    fireEvent.change(input(/^City/), { target: { value: "Austin" } });
    fireEvent.change(input(/^Country/), { target: { value: "ZZ" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    const message = await screen.findByText("no such country: ZZ");
    // On the field: inside the error list the country input is described by.
    const errorList = message.closest("ul");
    expect(errorList?.id).toBe("root_country_code__error");
    expect(input(/^Country/).getAttribute("aria-describedby")).toContain("root_country_code__error");
    expect(within(screen.getByRole("alert")).getByText(/The plugin refused this payload/)).toBeTruthy();
    // Editing clears the server's complaint.
    fireEvent.change(input(/^Country/), { target: { value: "US" } });
    await waitFor(() => expect(screen.queryByText("no such country: ZZ")).toBeNull());
  });

  it("asks for the token when the server wants one, then submits again", async () => {
    let attempts = 0;
    renderSubmit(
      {
        SubmitJob: (_, headers) => {
          attempts += 1;
          return headers.Authorization === "Bearer right" ? submitted : gqlError("unauthorized", "a bearer token is required");
        },
      },
      "",
    );
    await screen.findByRole("heading", { level: 2, name: "Dice roller" });
    fireEvent.change(input(/^Sides/), { target: { value: "6" } });
    fireEvent.click(screen.getByRole("button", { name: "Submit job" }));
    const dialog = await screen.findByRole("dialog", { name: "API key" });
    expect(within(dialog).getByText(/needs an API key/)).toBeTruthy();
    fireEvent.change(within(dialog).getByLabelText("Key"), { target: { value: "right" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save key" }));
    expect(await screen.findByTestId("location")).toHaveProperty("textContent", `/jobs/${NEW_ID}`);
    expect(attempts).toBe(2);
    expect(localStorage.getItem("dtq.token")).toBe("right");
  });

  it("reads again once a key is set, when a read was refused for want of one", async () => {
    const { services } = renderSubmit(
      { JobTypes: (_, headers) => (headers.Authorization ? jobTypes(WEATHER_TYPE) : gqlError("unauthorized", "a bearer token is required")) },
      "",
    );
    expect(await screen.findByText(/This server needs an API key/)).toBeTruthy();
    act(() => services.tokens.set("k"));
    expect(await screen.findByRole("heading", { level: 2, name: "Weather" })).toBeTruthy();
  });

  it("says so when the job types cannot be loaded", async () => {
    renderSubmit({
      JobTypes: gqlError("unavailable", "engine stopped"),
    });
    expect(await screen.findByText("Could not load the job types")).toBeTruthy();
    expect(screen.getByText(/The server is not ready: engine stopped/)).toBeTruthy();
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });
});
