import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConsoleModel } from "./model";
import type { AlertRecord } from "./protocol";
import { FakeSocket, alertRecord as record, fightAlert } from "./testing";

/** The REST answers the fake server gives; tests change them between calls. */
let rest: { alerts: AlertRecord[]; messages: Record<string, object[]> };
let sockets: FakeSocket[];
let newAlerts: string[];

beforeEach(() => {
  vi.useFakeTimers();
  rest = { alerts: [], messages: {} };
  sockets = [];
  newAlerts = [];
  vi.stubGlobal("fetch", async (url: string) => {
    const path = new URL(url, "http://console.test").pathname;
    const body =
      path === "/api/alerts"
        ? rest.alerts
        : path === "/api/cameras"
          ? [{ camera: "lobby", site: "hq", status: "online", error: null, since: 1, latest_url: null }]
          : path === "/api/users"
            ? [{ name: "ops", role: "operator" }, { name: "lead", role: "operator" }]
            : (rest.messages[decodeURIComponent(path.split("/")[3] ?? "")] ?? []);
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function model(afterSeq?: number) {
  return new ConsoleModel(
    { user: "ops", role: "operator", cameras: null, expires_at: 0 },
    { onNewAlert: (a) => newAlerts.push(a.id) },
    {
      url: "ws://console.test/ws",
      afterSeq,
      makeSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
    },
  );
}

const settle = () => vi.advanceTimersByTimeAsync(0);

describe("ConsoleModel", () => {
  it("merges the REST feed with live events that overtook it, and alarms only for live alerts", async () => {
    rest.alerts = [record(4, "ended"), record(2)];
    const m = model();
    const started = m.start();
    sockets[0].open(5);
    // Live events that happen while the REST page is on its way.
    sockets[0].frame({ type: "alert_update", id: "a4", seq: 6, camera: "lobby", site: "hq", status: "acknowledged", peak_score: 0.9, ended_at: 9, acked_by: "lead", note: "seen" });
    sockets[0].frame(fightAlert(7));
    await started;
    expect(m.alerts.list().map((a) => [a.id, a.status])).toEqual([
      ["a7", "active"],
      ["a4", "acknowledged"],
      ["a2", "active"],
    ]);
    expect(newAlerts).toEqual(["a7"]);
    expect(m.users).toEqual(["lead"]);
  });

  it("alarms for an alert the REST page brought before its live event, once", async () => {
    // The alert was raised after the socket's welcome (seq 5), and the REST page fetched at
    // start is answered before the socket delivers its fight_alert.
    rest.alerts = [record(6), record(2)];
    const m = model();
    const started = m.start();
    sockets[0].open(5);
    await started;
    expect(m.alerts.get("a6")?.fresh).toBe(false);
    expect(newAlerts).toEqual([]);
    sockets[0].frame(fightAlert(6));
    expect(newAlerts).toEqual(["a6"]);
    expect(m.alerts.get("a6")?.fresh).toBe(true);
    // A repeat (resume overlap) does not alarm twice; an alert from before the welcome never.
    sockets[0].frame(fightAlert(6));
    expect(newAlerts).toEqual(["a6"]);
    expect(m.alerts.get("a2")?.fresh).toBe(false);
  });

  it("after sign-in, replays from the sign-in position so an alert raised meanwhile alarms", async () => {
    const m = model(9);
    const started = m.start();
    expect(sockets[0].url).toBe("ws://console.test/ws?after_seq=9");
    rest.alerts = [record(10)];
    sockets[0].open(10);
    sockets[0].frame(fightAlert(10)); // replayed: raised between sign-in and connecting
    await started;
    expect(newAlerts).toEqual(["a10"]);
  });

  it("loads a room's history once, counts unread lines, and opens private conversations", async () => {
    rest.messages["chat:hq"] = [
      { seq: 3, room: "chat:hq", from: "lead", text: "gate 2?", at: 1 },
      { seq: 4, room: "chat:hq", from: "ops", text: "on it", at: 2 },
    ];
    const m = model();
    const started = m.start();
    sockets[0].open(4);
    await started;
    expect(sockets[0].sentJson()).toContainEqual({ type: "join_room", room: "chat:hq" });
    expect(sockets[0].sentJson()).toContainEqual({ type: "join_room", room: "chat:all" });
    await m.openRoom("chat:hq");
    // The live copy of a line that history already had is not shown twice.
    sockets[0].frame({ type: "receive_message", seq: 4, room: "chat:hq", from: "ops", text: "on it", at: 2 });
    sockets[0].frame({ type: "receive_message", seq: 5, room: "chat:hq", from: "lead", text: "thanks", at: 3 });
    expect(m.rooms.get("chat:hq")?.lines.map((l) => l.text)).toEqual(["gate 2?", "on it", "thanks"]);
    expect(m.rooms.get("chat:hq")?.unread).toBe(0); // open room
    sockets[0].frame({ type: "receive_message", seq: 6, room: "dm:lead:ops", from: "lead", text: "call me", at: 4 });
    const dm = m.rooms.get("dm:lead:ops");
    expect(dm).toMatchObject({ title: "@lead", kind: "dm", unread: 1 });
    expect(m.say("dm:lead:ops", "ok")).toBe(true);
    expect(sockets[0].sentJson().at(-1)).toEqual({ type: "private_message", to: "lead", text: "ok" });
    expect(m.say("chat:hq", "done")).toBe(true);
    expect(sockets[0].sentJson().at(-1)).toEqual({ type: "send_message", room: "chat:hq", text: "done" });
  });

  it("after a reconnect resumes, rejoins its rooms and refills the open one", async () => {
    const m = model();
    const started = m.start();
    sockets[0].open(10);
    await started;
    await m.openRoom("chat:hq");
    sockets[0].drop();
    expect(m.link.kind).toBe("reconnecting");
    expect(m.say("chat:hq", "lost?")).toBe(false);
    // A line posted while we were away (room chat is not replayed to non-members).
    rest.messages["chat:hq"] = [{ seq: 11, room: "chat:hq", from: "lead", text: "anyone?", at: 5 }];
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets[1].url).toBe("ws://console.test/ws?after_seq=10");
    sockets[1].open(12);
    sockets[1].frame(fightAlert(12));
    await settle();
    expect(sockets[1].sentJson()).toContainEqual({ type: "join_room", room: "chat:hq" });
    expect(m.rooms.get("chat:hq")?.lines.map((l) => l.text)).toEqual(["anyone?"]);
    expect(m.alerts.get("a12")).toBeDefined();
    expect(m.linkStats.resumed).toBe(1);
  });

  it("reloads from REST when the server will not replay that far, and signs out when revoked", async () => {
    let signedOut = 0;
    const m = new ConsoleModel(
      { user: "ops", role: "operator", cameras: null, expires_at: 0 },
      { onSignedOut: () => (signedOut += 1) },
      {
        url: "ws://console.test/ws",
        makeSocket: (url) => {
          const s = new FakeSocket(url);
          sockets.push(s);
          return s;
        },
      },
    );
    const started = m.start();
    sockets[0].open(10);
    await started;
    rest.alerts = [record(9000)];
    sockets[0].frame({ type: "error", code: "resume_too_far", message: "reload" });
    await settle();
    expect(m.alerts.get("a9000")).toBeDefined();
    sockets[0].drop(4001, "session ended: sign in again");
    expect(signedOut).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets.length).toBe(1); // no reconnect with a revoked session
  });

  it("forgets everything when the server comes back with another database", async () => {
    rest.alerts = [record(40), record(41)];
    const m = model();
    const started = m.start();
    sockets[0].open(41);
    await started;
    sockets[0].drop();
    rest.alerts = [record(1)]; // same id scheme, different alerts
    await vi.advanceTimersByTimeAsync(1000);
    sockets[1].open(1);
    await settle();
    expect(m.alerts.list().map((a) => a.id)).toEqual(["a1"]);
  });

  it("makes one picture of several nodes' metric updates, sampled once a second", async () => {
    const m = model();
    const started = m.start();
    sockets[0].open(0);
    await started;
    const update = (node: string, at: number, camera: string, cpu: number) => ({
      type: "metric_update", at, cpu_percent: cpu, rss_bytes: 100, clients: 2, node,
      cameras: [{ camera, capture_fps: 10, inference_fps: 2, inference_ms: 5, queue_depth: 0, dropped_frames: 0, skipped_fps: 0, analysis_lag_ms: 120 }],
    });
    sockets[0].frame(update("node-1", 10_000, "lobby", 30));
    sockets[0].frame(update("node-2", 10_300, "yard", 20));
    expect(m.latestMetrics?.cameras.map((c) => c.camera)).toEqual(["lobby", "yard"]);
    expect(m.latestMetrics?.cpu_percent).toBe(50);
    expect(m.metrics.at).toEqual([10]); // the second came within 0.9 s: no new sample
    sockets[0].frame(update("node-1", 11_000, "lobby", 40));
    expect(m.metrics.at).toEqual([10, 11]);
    expect(m.metrics.cpu.at(-1)).toBe(60);
    // A node silent for 5 s drops out of the picture.
    sockets[0].frame(update("node-1", 16_000, "lobby", 40));
    expect(m.latestMetrics?.cameras.map((c) => c.camera)).toEqual(["lobby"]);
  });
});
