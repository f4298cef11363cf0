import { describe, expect, it } from "vitest";
import { AlertBook, headline, laterStatus } from "./alerts";
import type { AlertUpdate } from "./protocol";
import { alertRecord as record, fightAlert as event } from "./testing";

const update = (id: string, seq: number, status: AlertUpdate["status"], extra: Partial<AlertUpdate> = {}): AlertUpdate => ({
  type: "alert_update",
  id,
  seq,
  camera: "lobby",
  site: "hq",
  status,
  peak_score: 0.9,
  ended_at: status === "active" ? null : 5000,
  acked_by: status === "acknowledged" ? "ops" : null,
  note: status === "acknowledged" ? "guard sent" : null,
  clip: null,
  exported_by: null,
  assignee: null,
  outcome: null,
  reason: null,
  resolved_by: null,
  count: 1,
  detection_snapshot_url: null,
  detection_clip: null,
  detection_clip_url: null,
  ...extra,
});

describe("AlertBook", () => {
  it("lists newest first and counts each alert once", () => {
    const book = new AlertBook();
    expect(book.addEvent(event(2))).toBe(true);
    expect(book.addEvent(event(1))).toBe(true);
    expect(book.addEvent(event(2))).toBe(false);
    book.addRecords([record(3, "active"), record(1, "active")]);
    expect(book.list().map((a) => a.id)).toEqual(["a3", "a2", "a1"]);
  });

  it("never moves an alert backwards, whatever order REST and live events arrive in", () => {
    const live = new AlertBook();
    live.addEvent(event(1));
    live.applyUpdate(update("a1", 2, "acknowledged"));
    live.addRecords([record(1, "ended")]); // a REST page fetched before the ack
    const a = live.get("a1");
    expect(a).toMatchObject({ status: "acknowledged", ackedBy: "ops", note: "guard sent", peakScore: 0.9 });

    const rest = new AlertBook();
    rest.addRecords([record(1, "ended")]);
    rest.addEvent(event(1));
    rest.applyUpdate(update("a1", 2, "acknowledged"));
    expect(rest.get("a1")).toMatchObject({ status: "acknowledged", ackedBy: "ops", endedAt: 4000 });
  });

  it("keeps the acknowledgement when the fight ends after it", () => {
    const book = new AlertBook();
    book.addEvent(event(1));
    book.applyUpdate(update("a1", 2, "acknowledged", { ended_at: null }));
    book.applyUpdate(update("a1", 3, "ended", { peak_score: 0.95, ended_at: 7000 }));
    expect(book.get("a1")).toMatchObject({ status: "acknowledged", endedAt: 7000, peakScore: 0.95 });
    expect(laterStatus("ended", "active")).toBe("ended");
  });

  it("holds an update for an alert it has not seen yet", () => {
    const book = new AlertBook();
    expect(book.applyUpdate(update("a5", 6, "ended"))).toBeUndefined();
    book.addRecords([record(5, "active")]);
    expect(book.get("a5")?.status).toBe("ended");
  });

  it("flashes live alerts only, and keeps at most its capacity", () => {
    const book = new AlertBook(3);
    book.addRecords([record(1, "active")]);
    book.addEvent(event(2));
    expect(book.get("a1")?.fresh).toBe(false);
    expect(book.get("a2")?.fresh).toBe(true);
    book.markSeen("a2");
    expect(book.get("a2")?.fresh).toBe(false);
    for (const s of [3, 4, 5]) book.addEvent(event(s));
    expect(book.list().map((a) => a.id)).toEqual(["a5", "a4", "a3"]);
  });

  it("keeps the clip once an update brings it, whatever arrives later", () => {
    const book = new AlertBook();
    book.addEvent(event(1));
    const clip = { file: "lobby-a1.mp4", duration_ms: 12000, bytes: 9, sha256: "ab", method: "remux", start_ms: 5000, peak_ms: 6000, end_ms: null };
    book.applyUpdate(update("a1", 2, "active", { clip }));
    expect(book.get("a1")?.clip).toEqual(clip);
    book.applyUpdate(update("a1", 3, "ended"));
    book.addRecords([record(1, "active")]);
    expect(book.get("a1")?.clip).toEqual(clip);
  });

  it("names camera-health alerts apart from fights", () => {
    const book = new AlertBook();
    book.addRecords([record(1, "active"), { ...record(2, "active"), label: "camera_offline", score: 1, peak_score: 1 }]);
    expect(headline(book.get("a1")!)).toBe("fight 85%");
    expect(headline(book.get("a2")!)).toBe("camera offline");
  });

  it("builds snapshot URLs for stored alerts that have one", () => {
    const book = new AlertBook();
    book.addRecords([record(1, "active"), record(2, "ended")]);
    expect(book.get("a1")?.snapshotUrl).toBe("/api/alerts/a1/snapshot.jpg");
    expect(book.get("a2")?.snapshotUrl).toBeNull();
  });

  it("keeps where the fight is and its heat map from the event or the record", () => {
    const book = new AlertBook();
    book.addEvent(event(1));
    expect(book.get("a1")?.region).toEqual([0.5, 0.4, 0.9, 1]);
    expect(book.get("a1")?.heatmapUrl).toBe("/api/alerts/a1/heatmap.jpg");
    // A record without them does not take them away.
    book.addRecords([record(1, "active")]);
    expect(book.get("a1")?.region).toEqual([0.5, 0.4, 0.9, 1]);
    book.addRecords([{ ...record(2, "active"), heatmap: "x-heat.jpg", region: [0.1, 0.2, 0.3, 0.4] }]);
    expect(book.get("a2")?.heatmapUrl).toBe("/api/alerts/a2/heatmap.jpg");
    expect(book.get("a2")?.region).toEqual([0.1, 0.2, 0.3, 0.4]);
    // A stored region that is not one (out of the picture) is not drawn.
    book.addRecords([{ ...record(3, "active"), region: [0.1, 0.2, 1.3, 0.4] }]);
    expect(book.get("a3")?.region).toBeNull();
  });
});
