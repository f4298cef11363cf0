import { describe, expect, it } from "vitest";
import { ProtocolError, otherParticipant, parseServerMessage, privateRoom, seqOf } from "./protocol";

const alert = {
  type: "fight_alert",
  id: "a42",
  seq: 42,
  camera: "lobby",
  site: "hq",
  label: "fight",
  score: 0.93,
  started_at: 1795675641692,
  snapshot_url: "/api/alerts/a42/snapshot.jpg",
  source: "pipeline",
  region: [0.43, 0.41, 0.83, 0.94],
  heatmap_url: "/api/alerts/a42/heatmap.jpg",
};

describe("parseServerMessage", () => {
  it("reads every message of docs/protocol.md", () => {
    const frames = [
      { type: "welcome_message", session: "9f2c", user: "ops", role: "operator", server_version: "0.1.0", last_seq: 41 },
      alert,
      { type: "alert_update", id: "a42", seq: 43, camera: "lobby", site: "hq", status: "active", peak_score: 0.99, ended_at: null, acked_by: null, note: null, clip: null, exported_by: null,
        assignee: null, outcome: null, reason: null, resolved_by: null, count: 1, detection_snapshot_url: null,
        detection_clip: null, detection_clip_url: null },
      {
        type: "alert_update", id: "a42", seq: 44, camera: "lobby", site: "hq", status: "ended", peak_score: 0.99, ended_at: 5, acked_by: null, note: null,
        clip: { file: "lobby.mp4", duration_ms: 12000, bytes: 9, sha256: "ab", method: "remux", start_ms: 5000, peak_ms: 6000, end_ms: null },
        exported_by: "lead", assignee: "ops", outcome: "false_alarm", reason: "dancing", resolved_by: "lead", count: 3,
        detection_snapshot_url: "/api/alerts/a42/detections/3.jpg",
        detection_clip: { file: "lobby-a42-d2-0badcafe.mp4", duration_ms: 6000, bytes: 9, sha256: "cd", method: "remux", start_ms: 1000, peak_ms: null, end_ms: null },
        detection_clip_url: "/api/alerts/a42/detections/2.mp4",
      },
      { type: "alert_escalated", id: "a42", seq: 48, camera: "lobby", site: "hq", level: 2, waiting_s: 120 },
      { type: "receive_message", seq: 46, room: "chat:hq", from: "ops", text: "on my way", at: 1795675650000 },
      { type: "camera_status", camera: "lobby", site: "hq", status: "reconnecting", error: "stalled", since: 1, node: "node-a" },
      { type: "metric_update", at: 1, cameras: [], cpu_percent: 63.5, rss_bytes: 98304000, clients: 3, node: "node-a" },
      { type: "error", code: "bad_message", message: "unknown variant" },
    ];
    for (const f of frames) expect(parseServerMessage(JSON.stringify(f))).toEqual(f);
  });

  it("treats a missing optional field as null and keeps unknown fields", () => {
    const { snapshot_url: _, ...noSnapshot } = alert;
    const m = parseServerMessage(JSON.stringify({ ...noSnapshot, extra: 1 }));
    expect(m).toMatchObject({ snapshot_url: null, extra: 1 });
  });

  it.each([
    ["not JSON", "{", /not JSON/],
    ["an array", "[1]", /JSON object/],
    ["an unknown type", '{"type":"nope"}', /unknown message type "nope"/],
    ["no type", '{"id":"a1"}', /unknown message type undefined/],
    ["a missing field", JSON.stringify({ ...alert, seq: undefined }), /fight_alert.seq: expected number/],
    ["a string seq", JSON.stringify({ ...alert, seq: "42" }), /fight_alert.seq/],
    ["a non-finite score", JSON.stringify(alert).replace("0.93", "1e999"), /fight_alert.score/],
    ["a region of three numbers", JSON.stringify({ ...alert, region: [0.1, 0.2, 0.3] }), /fight_alert.region: expected region/],
    ["a region outside the picture", JSON.stringify({ ...alert, region: [0.1, 0.2, 1.5, 0.9] }), /fight_alert.region/],
    ["a region upside down", JSON.stringify({ ...alert, region: [0.8, 0.2, 0.3, 0.9] }), /fight_alert.region/],
    [
      "a welcome without server_version",
      JSON.stringify({ type: "welcome_message", session: "s", user: "u", role: "viewer", last_seq: 0 }),
      /welcome_message.server_version: expected string/,
    ],
    [
      "a clip without its length",
      JSON.stringify({ type: "alert_update", id: "a", seq: 1, camera: "c", site: "s", status: "ended", peak_score: 1, clip: { file: "x.mp4" } }),
      /alert_update.clip.duration_ms: expected number/,
    ],
    [
      "an unknown status",
      JSON.stringify({ type: "alert_update", id: "a", seq: 1, camera: "c", site: "s", status: "lost", peak_score: 1 }),
      /unknown status "lost"/,
    ],
  ])("refuses %s with a ProtocolError", (_, text, message) => {
    expect(() => parseServerMessage(text)).toThrow(ProtocolError);
    expect(() => parseServerMessage(text)).toThrow(message);
  });
});

describe("helpers", () => {
  it("numbers only stored events", () => {
    expect(seqOf(parseServerMessage(JSON.stringify(alert)))).toBe(42);
    expect(seqOf(parseServerMessage('{"type":"error","code":"x","message":"y"}'))).toBeNull();
  });

  it("names private rooms as the server does (names sorted)", () => {
    expect(privateRoom("bob", "alice")).toBe("dm:alice:bob");
    expect(privateRoom("alice", "bob")).toBe("dm:alice:bob");
    expect(otherParticipant("dm:alice:bob", "bob")).toBe("alice");
    expect(otherParticipant("dm:alice:bob", "alice")).toBe("bob");
    expect(otherParticipant("dm:alice:bob", "carol")).toBeNull();
    expect(otherParticipant("chat:hq", "alice")).toBeNull();
  });
});
