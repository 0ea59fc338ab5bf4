// The real thing for the end-to-end tests: the recorded fake provider, the
// real `dtq serve` with the built UI, the shipped plugins and the GraphQL
// gateway it supervises (which faces the browser: the UI and /graphql on one
// origin), and Debian's Chromium driven by playwright-core. Paths come from the environment (the
// ctest entry sets them) with defaults for a checkout built with `make`.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const build = process.env.DTQ_BUILD_DIR ?? path.join(repo, "build/default");

export const config = {
  repo,
  dtq: process.env.DTQ_BIN ?? path.join(build, "bin/dtq"),
  pluginDir: process.env.DTQ_PLUGIN_DIR ?? path.join(build, "plugins"),
  testPluginDir: process.env.DTQ_TEST_PLUGIN_DIR ?? path.join(build, "test-plugins"),
  uiDir: process.env.DTQ_UI_DIST ?? path.join(repo, "ui/dist"),
  gateway: process.env.DTQ_GATEWAY ?? path.join(repo, "gateway/src/main.mjs"),
  artifacts: process.env.DTQ_E2E_ARTIFACTS ?? path.join(build, "ui-e2e"),
  chromium: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  fakeProvider: path.join(repo, "tests/fake_provider/fake_provider.py"),
  token: "e2e-token-5f1c0b7a",
};

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/**
 * Spawns a server and resolves with the first stdout line that matches
 * `ready`; the lines before it must match `before` (its other LISTENING lines).
 */
function startProcess(command, args, { env, ready, before = /^$/, name }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    const stderr = [];
    child.stderr.on("data", (chunk) => {
      stderr.push(chunk);
      if (process.env.E2E_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within 20 s:\n${Buffer.concat(stderr)}`));
    }, 20_000);
    const lines = createInterface({ input: child.stdout });
    let started = false;
    const earlier = [];
    lines.on("line", (line) => {
      if (started) return; // keep draining
      const match = ready.exec(line);
      if (match) {
        started = true;
        clearTimeout(timer);
        resolve({ child, match, earlier });
      } else if (before.test(line)) {
        earlier.push(line);
      } else {
        clearTimeout(timer);
        child.kill("SIGKILL");
        reject(new Error(`${name} printed "${line}" instead of its LISTENING line`));
      }
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${Buffer.concat(stderr)}`));
    });
  });
}

async function stopProcess(child, timeoutMs = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

export class FakeProvider {
  static async start() {
    const { child, match } = await startProcess("python3", [config.fakeProvider, "--port", "0"], {
      ready: /^LISTENING (\d+)$/,
      name: "fake provider",
    });
    return new FakeProvider(child, `http://127.0.0.1:${match[1]}`);
  }

  constructor(child, url) {
    this.child = child;
    this.url = url;
  }

  async fault(rule) {
    const response = await fetch(`${this.url}/__faults`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(rule),
    });
    if (response.status !== 201) throw new Error(`fault refused: ${response.status} ${await response.text()}`);
  }

  async reset() {
    await fetch(`${this.url}/__faults`, { method: "DELETE" });
  }

  stop() {
    return stopProcess(this.child);
  }
}

export class DtqServer {
  /**
   * `url` is the browser's address, the gateway's (the UI and /graphql);
   * `listen`/`graphqlListen` may name the ports to come back on after a restart.
   */
  static async start({ providerUrl, dataDir, pluginDir = config.pluginDir, listen = "127.0.0.1:0", graphqlListen = "127.0.0.1:0" }) {
    const { child, match, earlier } = await startProcess(
      config.dtq,
      [
        "--plugin-dir", pluginDir,
        "--data-dir", dataDir,
        "--log-level", "warn",
        "serve", "--listen", listen, "--ui-dir", config.uiDir, "--submit-rate", "1000",
        "--graphql", "on", "--gateway", config.gateway, "--graphql-listen", graphqlListen,
      ],
      {
        env: { DTQ_HTTP_BASE_URL: providerUrl, DTQ_API_TOKEN: config.token },
        before: /^(GRPC_)?LISTENING /,
        ready: /^GRAPHQL_LISTENING (http:\/\/\S+)$/,
        name: "dtq serve",
      },
    );
    const rest = earlier.map((line) => /^LISTENING (\S+)$/.exec(line)?.[1]).find(Boolean);
    return new DtqServer(child, match[1], rest);
  }

  /** `restUrl`: serve's own HTTP port, behind the gateway. */
  constructor(child, url, restUrl) {
    this.child = child;
    this.url = url;
    this.restUrl = restUrl;
  }

  /** A GraphQL operation as a script sends it: POST /graphql with the key. */
  async graphql(query, variables = {}) {
    const response = await fetch(`${this.url}/graphql`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${config.token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data;
  }

  stop() {
    return stopProcess(this.child);
  }
}

export function tempDataDir() {
  const dir = mkdtempSync(path.join(tmpdir(), "dtq-ui-e2e-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function launchBrowser() {
  mkdirSync(config.artifacts, { recursive: true });
  const headed = process.env.E2E_HEADED === "1" && process.env.CI !== "true";
  return chromium.launch({
    executablePath: config.chromium,
    headless: !headed,
    // Without these Chromium keeps trying to reach Google's services, which a
    // closed network refuses, many at a time.
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export function artifact(name) {
  return path.join(config.artifacts, name);
}
