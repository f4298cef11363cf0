// Runs the real fightwatch binary and a real Chromium (Debian's, through playwright-core) for
// the console's end-to-end tests. Loopback only; every process is stopped at the end.

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHOTS = path.join(REPO, "target/e2e");
const BIN = process.env.FIGHTWATCH_BIN ?? path.join(REPO, "target/debug/fightwatch");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** A free port of 127.0.0.1 below the kernel's ephemeral range (32768–60999): a port from
 * listen(0) is ephemeral, and an outgoing connection can take it while the server restarts. */
let nextPort = 20_000 + ((process.pid * 7919) % 12_000);
export async function freePort() {
  for (;;) {
    const port = nextPort;
    nextPort = nextPort + 1 >= 32_000 ? 20_000 : nextPort + 1;
    const free = await new Promise((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value, or fails after `ms` with `what`. */
export async function until(what, fn, ms = 30_000, every = 200) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last})`);
}

/** A fightwatch service (`fightwatch run --config`) in a temp dir, with users. */
export class Service {
  constructor() {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: build it with cargo build -p fightwatch`);
    this.dir = mkdtempSync(path.join(tmpdir(), "fightwatch-e2e-"));
    this.data = path.join(this.dir, "data");
    this.proc = null;
    this.log = [];
  }

  /** `model`: the package the cameras are watched with (the toy demo model by default). */
  async configure({ cameras, model = "models/fight-demo" }) {
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    const lines = [
      `[model]`,
      `package = ${JSON.stringify(path.join(REPO, model))}`,
      `threads = 1`,
      `[incident]`,
      `cooldown_s = 2.0`,
      `[server]`,
      `bind = "127.0.0.1:${this.port}"`,
      `web_dir = ${JSON.stringify(path.join(REPO, "web/dist"))}`,
      `[storage]`,
      `data_dir = ${JSON.stringify(this.data)}`,
      // Short clips: the looping fight fixtures never end their incidents.
      `[evidence]`,
      `pre_roll_s = 2.0`,
      `post_roll_s = 1.0`,
      `max_clip_s = 8.0`,
      // The looping fixtures raise alerts nobody acknowledges: escalations (tested with the
      // binary in crates/fightwatch/tests/escalation.rs) would re-alarm every one of them here.
      `[workflow]`,
      `ack_deadline_s = 0`,
      // Web Push on: the console offers device alerts (pushes themselves are tested against a
      // local push endpoint in crates/fightwatch/tests/push.rs; Chromium here has no push service).
      `[push]`,
      `contact = "mailto:e2e@example.org"`,
    ];
    for (const c of cameras) {
      lines.push(`[[cameras]]`, `name = "${c.name}"`, `source = ${JSON.stringify(path.join(REPO, c.source))}`, `site = "${c.site}"`);
      // A privacy mask: polygons in 0–1 picture coordinates, as TOML.
      if (c.masks) lines.push(`masks = ${c.masks}`);
    }
    this.config = path.join(this.dir, "fightwatch.toml");
    writeFileSync(this.config, lines.join("\n") + "\n");
  }

  fightwatch(args, input) {
    return execFileSync(BIN, args, { input, cwd: REPO, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] }).trim();
  }

  addUser(name, role, password) {
    this.fightwatch(["user", "add", name, "--role", role, "--password-stdin", "--data-dir", this.data], password + "\n");
  }

  token(user, role) {
    return this.fightwatch(["token", "--user", user, "--role", role, "--ttl", "1h", "--data-dir", this.data]);
  }

  async start() {
    this.proc = spawn(BIN, ["run", "--config", this.config], {
      cwd: REPO,
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (b) => {
      this.log.push(b.toString());
      if (this.log.length > 400) this.log.splice(0, 200);
    };
    this.proc.stdout.on("data", keep);
    this.proc.stderr.on("data", keep);
    const proc = this.proc;
    await until(
      "the server to answer /healthz",
      async () => {
        if (proc.exitCode !== null) throw new Error(`fightwatch exited with ${proc.exitCode}:\n${this.log.join("")}`);
        const r = await fetch(`${this.base}/healthz`);
        return r.ok;
      },
      60_000,
    );
  }

  /** SIGTERM, as an operator's restart would; waits for the process to exit. */
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!done) {
      proc.kill("SIGKILL");
      await exited;
    }
    this.proc = null;
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A fresh browser context (its own cookies) with page errors collected. */
export async function openConsole(browser, base, viewport = { width: 1600, height: 1000 }, { alarms = false } = {}) {
  const context = await browser.newContext({ viewport, baseURL: base });
  if (alarms) {
    // Desktop notifications allowed, and every notification and chime note recorded.
    await context.grantPermissions(["notifications"], { origin: base });
    await context.addInitScript(() => {
      window.__notifications = [];
      window.__chimeNotes = 0;
      const Real = window.Notification;
      class Recorded extends Real {
        constructor(title, options) {
          super(title, options);
          window.__notifications.push(title);
        }
      }
      window.Notification = Recorded;
      const createOscillator = AudioContext.prototype.createOscillator;
      AudioContext.prototype.createOscillator = function () {
        window.__chimeNotes += 1;
        return createOscillator.call(this);
      };
    });
  }
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("console", (m) => {
    // The browser logs refused requests (401 before login) and failed WebSocket connects (the
    // server restart) as errors; those are expected. Anything else the console logs is not.
    const text = m.text();
    if (m.type() === "error" && !/Failed to load resource|WebSocket connection/.test(text)) {
      page.errors.push(`console: ${text}`);
    }
  });
  await page.goto("/");
  return { context, page };
}

export async function login(page, user, password) {
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

/** Reports a fight the way an external detector does (POST /api/detections): a new alert
 * (201), or one grouped into the camera's open alert (200). Its alert id. */
export async function detect(base, token, camera, site) {
  const r = await fetch(`${base}/api/detections`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ camera, site, score: 0.95 }),
  });
  if (r.status !== 201 && r.status !== 200) throw new Error(`detection refused: ${r.status} ${await r.text()}`);
  return (await r.json()).id;
}

/** Accessibility audit (axe-core, WCAG 2 A/AA rules): the serious and critical violations,
 * each as "rule: first offending element". */
export async function accessibilityProblems(page) {
  // Evaluated through the DevTools protocol: the console's Content-Security-Policy (rightly)
  // refuses inline scripts, which addScriptTag would add.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      resultTypes: ["violations"],
    });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.nodes[0]?.html.slice(0, 160)}`);
  });
}
