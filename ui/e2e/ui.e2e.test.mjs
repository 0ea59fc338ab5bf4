// End to end: the built UI in headless Chromium against the real `dtq serve`
// (shipped plugins plus the `echo` test plugin, "dropped in"), whose plugins
// call the recorded fake provider. The page talks to dtq only through the
// GraphQL gateway serve supervises: POST /graphql for queries and mutations,
// one WebSocket (graphql-transport-ws) for subscriptions; every tab records
// both, and any other call to the API fails the test. Screenshots land in
// $DTQ_E2E_ARTIFACTS.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { artifact, config, DtqServer, FakeProvider, launchBrowser, tempDataDir } from "./harness.mjs";

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const SHIPPED = ["weather", "quote", "exchange_rate", "github_user"];

let provider;
let server;
let browser;
let context;
let data;
let pluginDir;

/** Polls until the locator's text matches, so failures say what was there instead. */
async function waitForText(locator, pattern, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last = "";
  for (;;) {
    last = (await locator.first().textContent({ timeout: 1000 }).catch(() => null)) ?? "";
    if (pattern.test(last)) return last;
    if (Date.now() > deadline) throw new Error(`expected ${pattern} but found ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Records what `page` says to the server: `operations` (POST /graphql
 * bodies), `sent` and `received` (the WebSocket's graphql-transport-ws
 * messages); a request to any other API route is an error.
 */
function recordGraphql(page) {
  page.graphql = { operations: [], sent: [], received: [], sockets: [] };
  page.on("request", (request) => {
    const { pathname } = new URL(request.url());
    if (pathname === "/graphql" && request.method() === "POST") {
      page.graphql.operations.push(request.postDataJSON());
    } else if (/^\/(v1|healthz|readyz|metrics)(\/|$)/.test(pathname)) {
      page.errors.push(`a call outside GraphQL: ${request.method()} ${pathname}`);
    }
  });
  page.on("websocket", (socket) => {
    page.graphql.sockets.push(socket.url());
    socket.on("framesent", ({ payload }) => page.graphql.sent.push(JSON.parse(payload)));
    socket.on("framereceived", ({ payload }) => page.graphql.received.push(JSON.parse(payload)));
  });
}

/** A fresh tab in the shared context (so the token is kept), failing the test on any page error. */
async function openPage(url = "/", inContext = context) {
  const page = await inContext.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource|ERR_|WebSocket/.test(message.text())) {
      page.errors.push(message.text());
    }
  });
  recordGraphql(page);
  await page.goto(server.url + url);
  return page;
}

async function done(page, screenshot) {
  if (screenshot) await page.screenshot({ path: artifact(screenshot), fullPage: true, animations: "disabled" });
  const errors = page.errors;
  await page.close();
  assert.deepEqual(errors, [], "errors on the page");
}

/** Runs a test body; on failure keeps a screenshot of every open tab. */
function e2e(name, body) {
  test(name, async () => {
    try {
      await body();
    } catch (error) {
      const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      for (const [i, page] of context.pages().entries()) {
        await page.screenshot({ path: artifact(`FAILED-${slug}-${i}.png`), fullPage: true, animations: "disabled" }).catch(() => {});
      }
      throw error;
    } finally {
      for (const page of context.pages()) await page.close().catch(() => {});
    }
  });
}

/** A job submitted by a script, through the same /graphql the page uses. */
async function apiSubmit(jobType, payload) {
  const data = await server.graphql(
    "mutation ($jobType: String!, $payload: JSON!) { submitJob(input: { jobType: $jobType, payload: $payload }) { jobId } }",
    { jobType, payload },
  );
  return data.submitJob.jobId;
}

/** A field of the form generated from the plugin's schema. */
function field(page, label) {
  return page.locator("form.rjsf").getByLabel(label);
}

async function chooseType(page, name) {
  await page.getByRole("radio", { name, exact: true }).check();
  await page.getByRole("heading", { level: 2, name }).waitFor();
}

async function submitAndWatch(page) {
  await page.getByRole("button", { name: "Submit job" }).click();
  await page.waitForURL(new RegExp(`/jobs/${UUID.source}$`));
  const badge = page.locator("#status-title ~ .badge, .card-heading .badge").first();
  await waitForText(badge, /Completed/, 20_000);
  return badge;
}

describe("dtq UI in Chromium", { concurrency: false }, () => {
  before(async () => {
    assert.ok(existsSync(config.dtq), `no dtq binary at ${config.dtq}; build first`);
    assert.ok(existsSync(path.join(config.uiDir, "index.html")), `no built UI in ${config.uiDir}; run scripts/build-ui.sh`);
    rmSync(config.artifacts, { recursive: true, force: true });
    mkdirSync(config.artifacts, { recursive: true });
    data = tempDataDir();
    // The shipped plugins, and the echo test plugin dropped in beside them:
    // a type the UI has never heard of.
    pluginDir = path.join(data.dir, "plugins");
    mkdirSync(pluginDir);
    for (const name of SHIPPED) symlinkSync(path.join(config.pluginDir, `${name}.so`), path.join(pluginDir, `${name}.so`));
    const echo = path.join(config.testPluginDir, "echo.so");
    assert.ok(existsSync(echo), `no echo test plugin at ${echo}`);
    symlinkSync(echo, path.join(pluginDir, "echo.so"));

    provider = await FakeProvider.start();
    server = await DtqServer.start({ providerUrl: provider.url, dataDir: path.join(data.dir, "data"), pluginDir });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US", timezoneId: "UTC" });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await provider?.stop();
    data?.remove();
  });

  e2e("the API key is entered once and kept; reads need it too", async () => {
    const page = await openPage("/");
    // Without a key the server shows nothing: the page says what it needs.
    await waitForText(page.getByRole("alert"), /needs an API key/);
    await page.getByRole("button", { name: "Set API key" }).click();
    const dialog = page.getByRole("dialog", { name: "API key" });
    await dialog.getByLabel("Key", { exact: true }).fill(config.token);
    await page.screenshot({ path: artifact("01-token-dialog.png"), animations: "disabled" });
    await dialog.getByRole("button", { name: "Save key" }).click();
    await page.getByRole("button", { name: "API key set" }).waitFor();
    await page.reload();
    await page.getByRole("button", { name: "API key set" }).waitFor();
    await done(page);

    // `dtq serve` and `make run` print the address with the key in its
    // fragment; the page keeps it, drops it from the address, and its
    // subscriptions' WebSocket sends it in connection_init (a WebSocket
    // cannot carry a header), never in the address.
    const other = await browser.newContext();
    const handed = await openPage(`/jobs#key=${config.token}`, other);
    await handed.getByRole("button", { name: "API key set" }).waitFor();
    assert.equal(new URL(handed.url()).hash, "", "the key is removed from the address");
    await waitForText(handed.getByText(/Updating live/), /Updating live/);
    await handed.locator("table.jobs-table, .empty").first().waitFor();
    const init = handed.graphql.sent.find((m) => m.type === "connection_init");
    assert.deepEqual(init?.payload, { authorization: `Bearer ${config.token}` });
    assert.ok(handed.graphql.sockets.every((url) => url === `${server.url.replace(/^http/, "ws")}/graphql`), handed.graphql.sockets.join());
    assert.ok(handed.graphql.sent.some((m) => m.type === "subscribe" && m.payload.operationName === "JobChanges"));
    assert.ok(handed.graphql.operations.some((o) => o.operationName === "Jobs"), "the list is a GraphQL query");
    await done(handed);
    await other.close();
  });

  e2e("weather: submitted through its form, watched live to completion", async () => {
    // Slow the forecast down so the page shows the job mid-way (20%).
    await provider.fault({ kind: "latency", path: "/v1/forecast", delay_ms: 3000 });
    const page = await openPage("/");
    await chooseType(page, "Weather");
    await field(page, "City").fill("Austin");
    await field(page, "Country").fill("US");
    await field(page, "Units").selectOption("metric");
    await field(page, "City").press("Enter"); // the keyboard submits too
    await page.waitForURL(new RegExp(`/jobs/${UUID.source}$`));
    const progress = page.getByRole("progressbar", { name: "Job progress" });
    await page.waitForFunction(() => document.querySelector('[aria-label="Job progress"]')?.getAttribute("aria-valuenow") === "20");
    await waitForText(page.getByTestId("status-message"), /city resolved/);
    await page.screenshot({ path: artifact("02-weather-running.png"), fullPage: true, animations: "disabled" });
    await waitForText(page.locator(".card-heading .badge"), /Completed/, 20_000);
    assert.equal(await progress.getAttribute("aria-valuenow"), "100");
    await waitForText(page.getByTestId("temperature"), /22\.4°C/);
    const card = page.locator(".result-weather");
    await waitForText(card, /Partly cloudy/);
    await waitForText(card, /Humidity61 %/);
    await waitForText(card, /Wind14\.8 km\/h/);
    const timeline = page.getByRole("list", { name: "Status changes" }).getByRole("listitem");
    assert.ok((await timeline.count()) >= 3, "the timeline shows the steps seen live");
    await waitForText(page.getByRole("list", { name: "Status changes" }), /city resolved.*Completed/s);

    // The submit travelled as a GraphQL mutation, the progress as a subscription's events.
    const jobId = new URL(page.url()).pathname.split("/").at(-1);
    const submit = page.graphql.operations.find((o) => o.operationName === "SubmitJob");
    assert.match(submit?.query ?? "", /mutation SubmitJob/);
    assert.deepEqual(submit.variables, {
      jobType: "weather",
      payload: { city: "Austin", country_code: "US", units: "metric" },
      priority: "NORMAL",
    });
    const subscribe = page.graphql.sent.find((m) => m.type === "subscribe" && m.payload.operationName === "JobUpdated");
    assert.ok(subscribe, "the job page subscribes to jobUpdated");
    assert.deepEqual(subscribe.payload.variables, { id: jobId });
    const pushed = page.graphql.received
      .filter((m) => m.type === "next" && m.id === subscribe.id)
      .map((m) => m.payload.data.jobUpdated.progressPercent);
    assert.ok(pushed.includes(20) && pushed.at(-1) === 100, `pushed progress: ${pushed}`);
    assert.ok(page.graphql.received.some((m) => m.type === "complete" && m.id === subscribe.id), "the server ends it after the terminal state");
    // No polling: the job is read once, for its result, after it ended.
    assert.ok(page.graphql.operations.filter((o) => o.operationName === "Job").length <= 2);
    await done(page, "03-weather-completed.png");
  });

  e2e("exchange rate: submitted through its form, shows rate and amount", async () => {
    const page = await openPage("/?type=exchange_rate");
    await page.getByRole("heading", { level: 2, name: "Exchange rate" }).waitFor();
    await field(page, "From currency").fill("USD");
    await field(page, "To currency").fill("EUR");
    await field(page, "Amount").fill("100");
    await submitAndWatch(page);
    await waitForText(page.getByTestId("conversion"), /^100 USD = 96\.0\d* EUR$/);
    await waitForText(page.locator(".result-exchange"), /Rate1 USD = 0\.96\d* EUR/);
    await done(page, "04-exchange-rate-completed.png");
  });

  e2e("GitHub user: submitted through its form, shows the profile", async () => {
    const page = await openPage("/");
    await chooseType(page, "GitHub user");
    await field(page, "Username").fill("octocat");
    await submitAndWatch(page);
    const card = page.locator(".result-github");
    await waitForText(card.locator(".result-title"), /^The Octocat$/);
    await waitForText(card, /Public repos8/);
    await waitForText(card, /Followers17,324/);
    assert.equal(await card.locator(".avatar").count(), 1, "an avatar (or its fallback when offline)");
    await done(page, "05-github-user-completed.png");
  });

  e2e("quote: submitted through its form, shows text and author", async () => {
    await provider.reset(); // the fake provider's quotes start again from the first
    const page = await openPage("/");
    await chooseType(page, "Quote");
    await submitAndWatch(page);
    await waitForText(page.locator(".result-quote blockquote"), /Your heart is the size of an ocean/);
    await waitForText(page.locator(".result-quote figcaption"), /Rumi/);
    await done(page, "06-quote-completed.png");
  });

  e2e("validation: the schema's checks and the plugin's refusal show on their fields", async () => {
    const page = await openPage("/?type=weather");
    await page.getByRole("heading", { level: 2, name: "Weather" }).waitFor();
    await page.getByRole("button", { name: "Submit job" }).click();
    await waitForText(page.locator("#root_city__error"), /Required/);
    assert.equal(new URL(page.url()).pathname, "/", "nothing was submitted");

    // The schema allows any three letters; only the plugin knows base and target must differ.
    await chooseType(page, "Exchange rate");
    await field(page, "From currency").fill("USD");
    await field(page, "To currency").fill("usd");
    await page.getByRole("button", { name: "Submit job" }).click();
    // On its field: the message is the one the input's aria-describedby names.
    const targetError = page.locator("#root_target__error");
    await waitForText(targetError, /must differ from base \(USD\)/);
    const describedBy = await field(page, "To currency").getAttribute("aria-describedby");
    assert.ok(describedBy?.split(" ").includes("root_target__error"), describedBy);
    await waitForText(page.getByRole("alert"), /The plugin refused this payload/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), "root_target", "focus moves to the field");
    assert.equal(await page.locator("#root_base__error").count(), 0, "no error on the other fields");
    await page.screenshot({ path: artifact("07-validation-error.png"), fullPage: true, animations: "disabled" });
    // Editing the field clears the server's complaint.
    await field(page, "To currency").fill("EUR");
    await targetError.waitFor({ state: "detached", timeout: 5000 });
    await done(page);
  });

  e2e("a priority chosen on the form is the job's, on its page and in the list", async () => {
    const page = await openPage("/?type=echo");
    await page.getByRole("heading", { level: 2, name: "Echo" }).waitFor();
    const priority = page.getByLabel("Priority", { exact: true });
    assert.equal(await priority.inputValue(), "NORMAL");
    await priority.selectOption("HIGH");
    await field(page, "message").fill("first in line");
    await submitAndWatch(page);
    const submit = page.graphql.operations.find((o) => o.operationName === "SubmitJob");
    assert.equal(submit?.variables?.priority, "HIGH", "the mutation carried the priority");
    const details = page.locator("dl.details");
    await waitForText(details, /Priority\s*High/);
    const id = new URL(page.url()).pathname.split("/").pop();
    await page.goto(`${server.url}/jobs`);
    const row = page.locator(`tr[data-job-id="${id}"]`);
    await waitForText(row.locator('td[data-label="Priority"]'), /High/);
    await done(page, "22-priority.png");
  });

  e2e("a job scheduled a few seconds later shows as scheduled with its time, then completes", async () => {
    const page = await openPage("/?type=echo");
    await page.getByRole("heading", { level: 2, name: "Echo" }).waitFor();
    await page.getByLabel("Delay, seconds").fill("6");
    await field(page, "message").fill("later");
    await page.getByRole("button", { name: "Submit job" }).click();
    await page.waitForURL(new RegExp(`/jobs/${UUID.source}$`));
    const submit = page.graphql.operations.find((o) => o.operationName === "SubmitJob");
    assert.equal(submit?.variables?.delaySeconds, 6, "the mutation carried the delay");
    await waitForText(page.locator("#status-title + .badge, .card-heading .badge").first(), /Scheduled/);
    await waitForText(page.getByTestId("scheduled-for"), /runs at/);
    const id = new URL(page.url()).pathname.split("/").pop();
    // Listed as scheduled, with its time, while it waits.
    const list = await openPage("/jobs?state=scheduled");
    await waitForText(list.locator(`tr[data-job-id="${id}"] td[data-label="State"]`), /Scheduled/);
    await list.close();
    await waitForText(page.locator(".card-heading .badge").first(), /Completed/, 30_000);
    await done(page, "23-scheduled.png");
  });

  e2e("a dropped-in plugin gets a working form and a raw JSON result", async () => {
    const page = await openPage("/");
    await chooseType(page, "Echo");
    await field(page, "message").fill("hello from the browser");
    // An array of integers: rjsf's add button, then the item's own input.
    await page.getByRole("button", { name: "Add Item" }).click();
    await page.locator("#root_progress_0").fill("40");
    await page.screenshot({ path: artifact("08-echo-form.png"), fullPage: true, animations: "disabled" });
    await submitAndWatch(page);
    await waitForText(page.locator(".json").first(), /"echo": "hello from the browser"/);
    await waitForText(page.getByRole("list", { name: "Status changes" }), /40%|Completed/);
    await page.getByText("Input payload").click();
    await waitForText(page.locator("details[open] .json"), /"progress": \[\s*40\s*\]/);
    await done(page, "08-echo-result.png");
  });

  e2e("the timeline shows a job's stored history, even one that ended before the page opened", async () => {
    const id = await apiSubmit("echo", { message: "history" });
    const state = async () => (await server.graphql(`{ job(id: "${id}") { status { state } } }`)).job?.status.state;
    for (const deadline = Date.now() + 20_000; (await state()) !== "COMPLETED"; ) {
      assert.ok(Date.now() < deadline, `job ${id} never completed`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const page = await openPage(`/jobs/${id}`);
    const timeline = page.getByRole("list", { name: "Job history" });
    await timeline.locator("li.history-completed").waitFor();
    assert.equal(await timeline.locator("li.history-submitted").count(), 1);
    assert.ok((await timeline.locator("li.history-started").count()) >= 1, "an attempt started");
    // Oldest first: submitted opens it, completed closes it.
    assert.match((await timeline.locator("li").first().getAttribute("class")) ?? "", /history-submitted/);
    assert.match((await timeline.locator("li").last().getAttribute("class")) ?? "", /history-completed/);
    assert.ok(page.graphql.operations.some((o) => o.operationName === "JobHistory"), "read through GraphQL");
    await done(page, "09b-stored-history.png");
  });

  e2e("cancel from the job page", async () => {
    const page = await openPage("/?type=echo");
    await page.getByRole("heading", { level: 2, name: "Echo" }).waitFor();
    await field(page, "sleep_ms").fill("60000");
    await page.getByRole("button", { name: "Submit job" }).click();
    await page.waitForURL(new RegExp(`/jobs/${UUID.source}$`));
    const badge = page.locator(".card-heading .badge");
    await waitForText(badge, /Running/);
    await page.getByRole("button", { name: "Cancel job" }).click();
    await waitForText(badge, /Cancelled/);
    assert.equal(await page.getByRole("button", { name: "Cancel job" }).count(), 0);
    await done(page, "09-cancelled-from-job-page.png");
  });

  e2e("jobs list: live, filtered, paged, and cancel from the list", async () => {
    const page = await openPage("/jobs");
    await page.getByRole("table").waitFor();
    // A job submitted elsewhere appears by itself.
    const id = await apiSubmit("echo", { sleep_ms: 60000, message: "long" });
    const row = page.locator(`tr[data-job-id="${id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await waitForText(row, /Running/);
    await page.screenshot({ path: artifact("10-jobs-live.png"), fullPage: true, animations: "disabled" });
    await row.getByRole("button", { name: `Cancel job ${id.slice(0, 8)}` }).click();
    await waitForText(row, /Cancelled/);
    await waitForText(page.getByRole("status").filter({ hasText: "cancelled." }), /cancelled\./);

    await page.getByLabel("State").selectOption("cancelled");
    await page.waitForURL(/state=cancelled/);
    // This job and the one cancelled from its page; until the filtered list
    // has loaded, fewer rows (or none) would pass the check vacuously.
    await page.waitForFunction(() => {
      const badges = [...document.querySelectorAll("tbody .badge")];
      return badges.length >= 2 && badges.every((b) => b.textContent === "Cancelled");
    });
    assert.ok((await page.locator("tbody tr").count()) >= 2);
    await page.getByLabel("Type").selectOption("weather");
    await page.waitForURL(/type=weather/);
    await page.getByText("No jobs match these filters.").waitFor();
    await page.getByRole("button", { name: "Clear filters" }).click();

    // More jobs than one page holds: the cursor pages through them.
    for (let i = 0; i < 21; i++) await apiSubmit("echo", { message: `page filler ${i}` });
    await page.getByRole("button", { name: "Older →" }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 20);
    const firstPage = await page.locator("tbody tr").first().getAttribute("data-job-id");
    await page.getByRole("button", { name: "Older →" }).click();
    await page.getByText("Page 2").waitFor();
    // Page 2 is loaded when it shows rows, none of them page 1's first; while
    // it loads, the table is empty and the first row's absence proves nothing.
    await page.waitForFunction((first) => {
      const rows = document.querySelectorAll("tbody tr[data-job-id]");
      return rows.length >= 1 && !document.querySelector(`tr[data-job-id="${first}"]`);
    }, firstPage);
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByText("Page 1").waitFor();
    await done(page, "11-jobs-list.png");
  });

  e2e("plugins: version, ABI version, description, concurrency, health", async () => {
    const page = await openPage("/plugins");
    const cards = page.locator(".plugin");
    await page.waitForFunction(() => document.querySelectorAll(".plugin").length === 5);
    const weather = cards.filter({ has: page.getByRole("heading", { name: "Weather" }) });
    await waitForText(weather, /Version1\.0\.0/);
    await waitForText(weather, /ABI version1\.0/);
    await waitForText(weather, /Concurrency8 workers/);
    await waitForText(weather.locator(".health"), /Healthy/);
    await waitForText(weather, /Open-Meteo/);
    await done(page, "12-plugins.png");
  });

  e2e("plugins: a job type paused from its card keeps its jobs queued until resumed", async () => {
    const page = await openPage("/plugins");
    const echo = page.locator(".plugin").filter({ has: page.getByRole("heading", { name: "Echo" }) });
    await waitForText(echo.locator(".health"), /Healthy/);
    await echo.getByRole("button", { name: "Pause Echo" }).click();
    await waitForText(page.getByRole("status").filter({ hasText: "paused" }), /Echo paused/);
    await waitForText(echo.locator(".health"), /Paused/);
    await echo.getByRole("button", { name: "Resume Echo" }).waitFor();
    assert.ok(page.graphql.operations.some((o) => o.operationName === "PauseJobType"), "paused through GraphQL");
    await page.screenshot({ path: artifact("21-plugin-paused.png"), fullPage: true, animations: "disabled" });

    // Submitted and held; a quote job runs to its end meanwhile, so echo's
    // idle workers had every chance to take the held one.
    const held = await apiSubmit("echo", { message: "held" });
    const other = await apiSubmit("quote", {});
    const jobPage = await openPage(`/jobs/${other}`);
    await waitForText(jobPage.locator(".card-heading .badge"), /Completed/, 20_000);
    await jobPage.goto(`${server.url}/jobs/${held}`);
    await waitForText(jobPage.locator(".card-heading .badge"), /Queued/);

    await echo.getByRole("button", { name: "Resume Echo" }).click();
    await waitForText(page.getByRole("status").filter({ hasText: "resumed" }), /Echo resumed/);
    await waitForText(echo.locator(".health"), /Healthy/);
    assert.ok(page.graphql.operations.some((o) => o.operationName === "ResumeJobType"), "resumed through GraphQL");
    // The job page follows the held job live to its end.
    await waitForText(jobPage.locator(".card-heading .badge"), /Completed/, 20_000);
    await done(jobPage);
    await done(page);
  });

  e2e("dark mode is kept, and narrow screens get a layout of their own", async () => {
    const page = await openPage("/jobs");
    await page.getByRole("button", { name: "Dark mode" }).click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    await page.reload();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    await page.getByRole("table").waitFor();
    await page.screenshot({ path: artifact("13-dark-jobs.png"), fullPage: true, animations: "disabled" });
    await page.getByRole("link", { name: "Submit", exact: true }).click();
    await page.getByRole("heading", { level: 2 }).first().waitFor();
    await page.screenshot({ path: artifact("14-dark-submit.png"), fullPage: true, animations: "disabled" });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.url}/jobs`);
    await page.getByRole("table").waitFor();
    await page.screenshot({ path: artifact("15-mobile-dark-jobs.png"), animations: "disabled" });
    await page.getByRole("button", { name: "Dark mode" }).click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
    await page.screenshot({ path: artifact("16-mobile-light-jobs.png"), animations: "disabled" });
    await done(page);
  });

  e2e("dead letters: a job that failed for good is replayed and deleted from the page; a failed job retried", async () => {
    // The echo test plugin fails for good when its payload asks it to.
    const payload = { message: "e2e", fail: { code: "e2e_boom", message: "asked to fail" } };
    const failed = await apiSubmit("echo", payload);
    const letters = async () =>
      (await server.graphql('{ deadLetters(jobType: "echo") { jobId replayedAs } }')).deadLetters;
    for (const deadline = Date.now() + 20_000; !(await letters()).some((l) => l.jobId === failed); ) {
      assert.ok(Date.now() < deadline, `job ${failed} was never dead-lettered`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }

    const page = await openPage("/dead-letters");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dead letters" }).waitFor();
    await page.getByLabel("Type", { exact: true }).selectOption("echo");
    const card = page.locator("li.dead-letter").filter({ has: page.getByRole("link", { name: failed.slice(0, 8) }) });
    await waitForText(card.locator(".dead-letter-error"), /e2e_boom: asked to fail/);
    await waitForText(card.locator("dl"), /Attempts1/);
    await card.getByText("Payload").click();
    await waitForText(card.locator("pre.json"), /"code": "e2e_boom"/);
    await page.screenshot({ path: artifact("19-dead-letters.png"), fullPage: true, animations: "disabled" });

    // Replay: a new job, linked from the notice and from the card.
    await card.getByRole("button", { name: "Replay", exact: true }).click();
    const notice = page.getByRole("status").filter({ hasText: "replayed as" });
    await waitForText(notice, new RegExp(`Job ${failed.slice(0, 8)} replayed as [0-9a-f]{8}`));
    const replay = (await letters()).find((l) => l.jobId === failed).replayedAs;
    assert.match(replay ?? "", UUID);
    await card.getByRole("button", { name: "Replayed" }).waitFor();
    assert.ok(page.graphql.operations.some((o) => o.operationName === "ReplayDeadLetter"), "replayed through GraphQL");

    // The replay fails the same way and is dead-lettered in its turn; then
    // the original is deleted from the page.
    await card.getByRole("button", { name: "Delete" }).click();
    await waitForText(page.getByRole("status").filter({ hasText: "deleted" }), /deleted/);
    await card.waitFor({ state: "detached" });
    assert.ok(!(await letters()).some((l) => l.jobId === failed), "gone from the listing");

    // The replay's page: failed, with a Retry button that opens the new job.
    await page.goto(`${server.url}/jobs/${replay}`);
    await waitForText(page.locator(".card-heading .badge"), /Failed/, 20_000);
    await page.getByRole("button", { name: "Retry job" }).click();
    await page.waitForURL((url) => UUID.test(url.pathname) && !url.pathname.endsWith(replay));
    await waitForText(page.locator(".card-heading .badge"), /Failed/, 20_000);
    assert.ok(page.graphql.operations.some((o) => o.operationName === "RetryJob"), "retried through GraphQL");
    await done(page, "20-retried.png");
  });

  e2e("a lost connection is reported, and the page reconnects by itself", async () => {
    const page = await openPage("/jobs");
    await page.getByRole("table").waitFor();
    // Both of serve's ports come back: its REST port, behind the gateway, and the gateway's.
    const port = new URL(server.url).port;
    const restPort = new URL(server.restUrl).port;
    await server.stop();
    await waitForText(page.locator(".connection"), /Connection to the dtq server lost\. Reconnecting/, 15_000);
    await page.screenshot({ path: artifact("17-connection-lost.png"), fullPage: true, animations: "disabled" });
    server = await DtqServer.start({
      providerUrl: provider.url,
      dataDir: path.join(data.dir, "data"),
      pluginDir,
      listen: `127.0.0.1:${restPort}`,
      graphqlListen: `127.0.0.1:${port}`,
    });
    await waitForText(page.locator(".connection"), /Reconnected to the dtq server/, 20_000);
    await page.getByRole("table").waitFor();
    page.errors = page.errors.filter((e) => !/Failed to fetch|NetworkError/.test(e));
    // The socket came back by itself, and the list was read again.
    assert.ok(page.graphql.sent.filter((m) => m.type === "connection_init").length >= 2, "a new socket after the restart");
    assert.ok(page.graphql.operations.filter((o) => o.operationName === "Jobs").length >= 2, "the list is read again");
    await done(page, "18-reconnected.png");
  });
});
