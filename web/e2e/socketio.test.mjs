// The seed guide's Socket.IO clients, unchanged apart from the URL and a token: the npm
// socket.io-client and the PyPI python-socketio client against the real service watching
// fight fixtures (/socket.io/, docs/protocol.md "Socket.IO"). No browser.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import { REPO, Service, detect, sleep, until } from "./harness.mjs";

const OPS = ["ops", "operator", "night shift 1"];
// A viewer of the bar's camera only.
const DOOR = ["door", "viewer", "door staff 77"];
const PYTHON = path.join(REPO, ".cache/venv/bin/python");

let service;
let tokens;
const sockets = [];

before(async () => {
  service = new Service();
  await service.configure({
    cameras: [
      { name: "entrance", source: "fixtures/fight_street.mp4", site: "hq" },
      { name: "bar", source: "fixtures/fight_bar_three.mp4", site: "depot" },
    ],
  });
  service.addUser(...OPS);
  service.fightwatch(
    ["user", "add", DOOR[0], "--role", DOOR[1], "--camera", "bar", "--password-stdin", "--data-dir", service.data],
    DOOR[2] + "\n",
  );
  await service.start();
  tokens = {
    ops: await signIn(OPS),
    door: await signIn(DOOR),
    detector: service.token("ai-1", "detector"),
  };
});

after(async () => {
  for (const s of sockets) s.close();
  await service?.close();
});

async function signIn([user, , password]) {
  const r = await fetch(`${service.base}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  assert.equal(r.status, 200, `login of ${user}`);
  return (await r.json()).token;
}

/** A socket.io-client socket that records every event it gets. */
function connect(auth, options = {}) {
  const socket = io(service.base, { auth, reconnection: false, ...options });
  sockets.push(socket);
  socket.got = [];
  socket.onAny((name, body) => socket.got.push({ name, body }));
  return socket;
}

const events = (socket, name) => socket.got.filter((e) => e.name === name).map((e) => e.body);
const ack = (socket, name, body) => socket.timeout(15_000).emitWithAck(name, body);

test("socket.io-client: welcome, the pipeline's fight alerts, metrics, rooms, chat, workflow and acknowledgements", { timeout: 120_000 }, async () => {
  const ops = connect({ token: tokens.ops });
  await until("welcome_message", () => events(ops, "welcome_message").length, 20_000);
  const [welcome] = events(ops, "welcome_message");
  assert.equal(welcome.type, "welcome_message");
  assert.equal(welcome.user, "ops");
  assert.equal(welcome.role, "operator");
  // The default transports: long-polling first, then the WebSocket upgrade.
  await until("the WebSocket upgrade", () => ops.io.engine.transport.name === "websocket", 20_000);
  // Fight alerts the real pipeline raised, from both cameras, as docs/protocol.md's JSON.
  const alert = await until(
    "a fight alert from each camera",
    () => {
      const cams = new Set(events(ops, "fight_alert").map((a) => a.camera));
      return cams.has("entrance") && cams.has("bar") && events(ops, "fight_alert")[0];
    },
    90_000,
  );
  assert.equal(alert.type, "fight_alert");
  assert.ok(alert.seq > 0 && alert.id && alert.score > 0.5, JSON.stringify(alert));
  // Metrics come every few seconds; camera states only when a camera's state changes (its
  // first one may have come before this socket), so only their form is checked.
  await until("metric_update", () => events(ops, "metric_update").length, 30_000);
  assert.ok(events(ops, "metric_update")[0].cameras.length >= 1);
  for (const c of events(ops, "camera_status")) assert.ok(["entrance", "bar"].includes(c.camera), JSON.stringify(c));
  // Rooms and chat, answered through acknowledgements.
  assert.deepEqual(await ack(ops, "join_room", "chat:hq"), { ok: true });
  assert.deepEqual(await ack(ops, "send_message", { room: "chat:hq", text: "on my way" }), { ok: true });
  await until("the chat message back", () => events(ops, "receive_message").some((m) => m.text === "on my way" && m.from === "ops"));
  const refused = await ack(ops, "send_message", { room: "chat:depot", text: "not joined" });
  assert.equal(refused.ok, false);
  assert.equal(refused.code, "bad_room");
  // The alert workflow: acknowledged, and its update comes as an event.
  assert.deepEqual(await ack(ops, "ack_alert", { id: alert.id, note: "seen on camera" }), { ok: true });
  await until("alert_update of the acknowledged alert", () => events(ops, "alert_update").some((u) => u.id === alert.id));
  // Without an acknowledgement callback a refusal comes as an `error` event, as on /ws.
  ops.emit("join_room", { room: "a room with spaces" });
  await until("an error event", () => events(ops, "error").some((e) => e.code === "bad_room"));
  const unknown = await ack(ops, "no_such_event", {});
  assert.equal(unknown.ok, false);
  assert.equal(unknown.code, "bad_message");
});

test("socket.io-client: a viewer gets only its cameras and is refused the others' rooms", { timeout: 120_000 }, async () => {
  // after_seq 0: the whole log is replayed, through the same filter as live events. The viewer
  // comes on a WebSocket from the start (fightwatch's own transport), the operator by polling
  // and upgrade (socketioxide's): both get the same events through the same checks.
  const door = connect({ token: tokens.door, after_seq: 0 }, { transports: ["websocket"] });
  const ops = connect({ token: tokens.ops, after_seq: 0 });
  await until("both welcomed", () => events(door, "welcome_message").length && events(ops, "welcome_message").length, 20_000);
  const forbidden = await ack(door, "join_room", "camera:entrance");
  assert.equal(forbidden.ok, false);
  assert.equal(forbidden.code, "forbidden");
  assert.deepEqual(await ack(door, "join_room", "camera:bar"), { ok: true });
  // Alerts of both cameras (the pipeline's, replayed, and these, live) reach the operator;
  // the viewer gets the bar's only.
  await detect(service.base, tokens.detector, "entrance", "hq");
  await detect(service.base, tokens.detector, "bar", "depot");
  await until("the operator sees both", () => new Set(events(ops, "fight_alert").map((a) => a.camera)).size >= 2, 30_000);
  await until("the viewer sees the bar's", () => events(door, "fight_alert").some((a) => a.camera === "bar"), 30_000);
  await until("metrics for the viewer", () => events(door, "metric_update").length, 30_000);
  await sleep(500);
  assert.deepEqual([...new Set(events(door, "fight_alert").map((a) => a.camera))], ["bar"]);
  for (const c of events(door, "camera_status")) assert.equal(c.camera, "bar");
  for (const m of events(door, "metric_update")) {
    assert.ok(m.cameras.every((c) => c.camera === "bar"), JSON.stringify(m.cameras));
  }
  // A viewer may not report fights; a detector may.
  const notDetector = await ack(door, "fight_detected", { camera: "bar", site: "depot", score: 0.9 });
  assert.equal(notDetector.code, "forbidden");
  const ai = connect({ token: tokens.detector }, { transports: ["websocket"] });
  await until("the detector connected", () => ai.connected, 20_000);
  assert.deepEqual(await ack(ai, "fight_detected", { camera: "bar", site: "depot", score: 0.97 }), { ok: true });
});

test("socket.io-client: a bad or missing token is refused with a clear connect_error", { timeout: 60_000 }, async () => {
  for (const [auth, expected, transports] of [
    [{ token: "not a token" }, /invalid token/i, undefined],
    [{}, /token/i, undefined],
    [{ token: "not a token" }, /invalid token/i, ["websocket"]],
    [{ token: 42 }, /bad auth/i, ["websocket"]],
  ]) {
    const socket = connect(auth, transports ? { transports } : {});
    const error = await new Promise((resolve) => socket.once("connect_error", resolve));
    assert.match(error.message, expected);
    assert.equal(socket.connected, false);
  }
});

test("the seed guide's client code, with the URL and auth added, works as written", { timeout: 90_000 }, async () => {
  const URL = service.base;
  const token = tokens.ops;
  const aiToken = tokens.detector;
  const log = [];
  // --- the guide's dashboard (socket.on / socket.emit), `{ auth: { token } }` added ---
  const socket = io(URL, { auth: { token } });
  socket.on("welcome_message", (message) => log.push(["welcome_message", message]));
  socket.on("fight_alert", (data) => log.push(["fight_alert", data]));
  socket.on("metric_update", (data) => log.push(["metric_update", data]));
  socket.on("receive_message", (data) => log.push(["receive_message", data]));
  const roomName = "chat:hq";
  socket.emit("join_room", roomName);
  socket.emit("send_message", { room: roomName, text: "Welcome to the chat room!" });
  // --- the guide's AI side: AI -> backend -> WebSocket -> frontend ---
  const ai = io(URL, { auth: { token: aiToken } });
  ai.emit("fight_detected", { camera: "guide-cam", site: "hq", score: 0.91 });
  // ---
  sockets.push(socket, ai);
  const seen = (name, test = () => true) => log.some(([n, body]) => n === name && test(body));
  await until("the guide's events", () =>
    seen("welcome_message") &&
    seen("fight_alert", (a) => a.camera === "guide-cam") &&
    seen("metric_update") &&
    seen("receive_message", (m) => m.text === "Welcome to the chat room!"),
    60_000,
  );
  socket.emit("leave_room", roomName);
});

test("python-socketio: token, welcome, room, chat, a detector's alert, a refused token", { timeout: 120_000 }, async () => {
  assert.ok(existsSync(PYTHON), `${PYTHON} is missing: run scripts/setup.sh`);
  const out = await new Promise((resolve, reject) =>
    execFile(PYTHON, [path.join(REPO, "web/e2e/socketio_client.py"), service.base, tokens.ops, tokens.detector], { timeout: 100_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const seen = JSON.parse(out);
  assert.equal(seen.welcome.user, "ops");
  assert.equal(seen.transport, "websocket");
  assert.deepEqual(seen.join, { ok: true });
  assert.deepEqual(seen.send, { ok: true });
  assert.ok(seen.chat.some((m) => m.text === "from python"));
  assert.equal(seen.viewer_detects.code, "forbidden");
  assert.deepEqual(seen.detect, { ok: true });
  assert.ok(seen.alerts.some((a) => a.camera === "py-cam"));
  assert.match(seen.refused, /invalid token/i);
});

for (const transports of [["polling", "websocket"], ["websocket"]]) {
test(`recovery (${transports.join(", ")}): across kill -9 and a restart, auth.after_seq brings every missed event once, in order`, { timeout: 180_000 }, async () => {
  const camera = (n) => `rec-${transports.length}-${n}`;
  let lastSeq = 0;
  const seqs = [];
  const alerts = new Set();
  // The documented reconnecting client: `auth` as a function, so each attempt sends the last seq.
  const socket = io(service.base, {
    auth: (cb) => cb({ token: tokens.ops, after_seq: lastSeq }),
    transports,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
  });
  sockets.push(socket);
  socket.onAny((name, body) => {
    if (typeof body?.seq !== "number") return;
    seqs.push(body.seq);
    lastSeq = Math.max(lastSeq, body.seq);
    if (name === "fight_alert") alerts.add(body.id);
  });
  await until("connected", () => socket.connected, 20_000);
  await detect(service.base, tokens.detector, camera(1), "hq");
  await until("the first alert live", () => alerts.size >= 1, 20_000);
  // kill -9: no goodbye. The client is held back from reconnecting until the alerts below are
  // raised, so they can only reach it from the log.
  socket.io.reconnection(false);
  const exited = new Promise((r) => service.proc.once("exit", r));
  service.proc.kill("SIGKILL");
  await exited;
  service.proc = null;
  await until("the client saw the server go", () => !socket.connected, 20_000);
  await service.start();
  const missed = [await detect(service.base, tokens.detector, camera(2), "hq"), await detect(service.base, tokens.detector, camera(3), "hq")];
  assert.ok(missed.every((id) => !alerts.has(id)));
  socket.io.reconnection(true);
  socket.connect();
  await until("the missed alerts, replayed", () => missed.every((id) => alerts.has(id)), 60_000);
  // After reconnecting, live again.
  const live = await detect(service.base, tokens.detector, camera(4), "hq");
  await until("a live alert after the restart", () => alerts.has(live), 30_000);
  // Every alert in the store reached the client, and no event came twice or out of order.
  const stored = await (await fetch(`${service.base}/api/alerts?limit=500`, { headers: { authorization: `Bearer ${tokens.ops}` } })).json();
  const ids = (stored.alerts ?? stored).map((a) => a.id);
  assert.ok(ids.length >= 4);
  assert.deepEqual(ids.filter((id) => !alerts.has(id)), [], "alerts the client never got");
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} after ${seqs[i - 1]}`);
});
}
