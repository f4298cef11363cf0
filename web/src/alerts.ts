// The console's view of alerts: fed by REST pages and by live events in any order, it always
// converges on the same state (the merge below only moves forward).

import { isRegion } from "./protocol";
import type { AlertEscalated, AlertRecord, AlertStatus, AlertUpdate, ClipInfo, FalseAlarmReason, FightAlert, Outcome } from "./protocol";

/** What the console shows for one alert. */
export interface Alert {
  id: string;
  seq: number;
  camera: string;
  site: string;
  label: string;
  score: number;
  peakScore: number;
  status: AlertStatus;
  startedAt: number;
  endedAt: number | null;
  ackedBy: string | null;
  note: string | null;
  snapshotUrl: string | null;
  /** The snapshot with the model's heat map laid over it, when it made one. */
  heatmapUrl: string | null;
  /** Where in the snapshot the fight is, `[x0, y0, x1, y1]` in 0–1 picture coordinates. */
  region: [number, number, number, number] | null;
  /** The incident clip, once written (served at `clipUrl(id)`). */
  clip: ClipInfo | null;
  /** The operator who owns it. */
  assignee: string | null;
  /** How it was resolved, by whom, and what a false alarm was. */
  outcome: Outcome | null;
  reason: FalseAlarmReason | null;
  resolvedBy: string | null;
  /** Escalations so far: nobody acknowledged it in time. */
  escalations: number;
  /** Detections grouped into it. */
  count: number;
  source: string;
  /** Arrived live while this console watched (flash it). */
  fresh: boolean;
}

const RANK: Record<AlertStatus, number> = { active: 0, ended: 1, acknowledged: 2, resolved: 3 };

/** The later of two statuses: an alert goes active → ended, either → acknowledged, any →
 * resolved. */
export function laterStatus(a: AlertStatus, b: AlertStatus): AlertStatus {
  return RANK[b] > RANK[a] ? b : a;
}

export function fromRecord(r: AlertRecord): Alert {
  return {
    id: r.id,
    seq: r.seq,
    camera: r.camera,
    site: r.site,
    label: r.label,
    score: r.score,
    peakScore: r.peak_score,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    ackedBy: r.acked_by,
    note: r.note,
    snapshotUrl: r.snapshot ? `/api/alerts/${encodeURIComponent(r.id)}/snapshot.jpg` : null,
    heatmapUrl: r.heatmap ? `/api/alerts/${encodeURIComponent(r.id)}/heatmap.jpg` : null,
    region: isRegion(r.region) ? r.region : null,
    clip: r.clip ?? null,
    assignee: r.assignee ?? null,
    outcome: r.outcome ?? null,
    reason: r.reason ?? null,
    resolvedBy: r.resolved_by ?? null,
    escalations: r.escalations ?? 0,
    count: r.count ?? 1,
    source: r.source,
    fresh: false,
  };
}

export function fromEvent(e: FightAlert): Alert {
  return {
    id: e.id,
    seq: e.seq,
    camera: e.camera,
    site: e.site,
    label: e.label,
    score: e.score,
    peakScore: e.score,
    status: "active",
    startedAt: e.started_at,
    endedAt: null,
    ackedBy: null,
    note: null,
    snapshotUrl: e.snapshot_url,
    heatmapUrl: e.heatmap_url ?? null,
    region: isRegion(e.region) ? e.region : null,
    clip: null,
    assignee: null,
    outcome: null,
    reason: null,
    resolvedBy: null,
    escalations: 0,
    count: 1,
    source: e.source,
    fresh: true,
  };
}

/** Two views of the same alert, merged: every field only moves forward. */
export function merge(a: Alert, b: Alert): Alert {
  return {
    ...a,
    peakScore: Math.max(a.peakScore, b.peakScore),
    status: laterStatus(a.status, b.status),
    endedAt: a.endedAt ?? b.endedAt,
    ackedBy: a.ackedBy ?? b.ackedBy,
    note: a.note ?? b.note,
    snapshotUrl: a.snapshotUrl ?? b.snapshotUrl,
    heatmapUrl: a.heatmapUrl ?? b.heatmapUrl,
    region: a.region ?? b.region,
    clip: a.clip ?? b.clip,
    // The assignee can change hands: the view of the later status wins, else the newer one.
    assignee: b.assignee ?? a.assignee,
    outcome: a.outcome ?? b.outcome,
    reason: a.reason ?? b.reason,
    resolvedBy: a.resolvedBy ?? b.resolvedBy,
    escalations: Math.max(a.escalations, b.escalations),
    count: Math.max(a.count, b.count),
    fresh: a.fresh && b.fresh,
  };
}

/** The `label` of a camera-health alert (a camera down too long). */
export const CAMERA_OFFLINE = "camera_offline";

/** What an alert is about, for people: "fight 95%", or "camera offline". */
export function headline(a: Alert): string {
  return a.label === CAMERA_OFFLINE ? "camera offline" : `${a.label} ${Math.round(a.peakScore * 100)}%`;
}

/** Where an alert's clip is served. */
export function clipUrl(id: string): string {
  return `/api/alerts/${encodeURIComponent(id)}/clip.mp4`;
}

/** Where a camera's live view is served (MJPEG). */
export function liveUrl(camera: string): string {
  return `/api/cameras/${encodeURIComponent(camera)}/live.mjpeg`;
}

/** Where a camera's own video is served (fMP4 over WebSocket), on the page's own host. */
export function liveVideoUrl(camera: string, loc: { protocol: string; host: string } = window.location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/api/cameras/${encodeURIComponent(camera)}/live.ws`;
}

/** Where an alert's signed evidence export is served. */
export function evidenceUrl(id: string): string {
  return `/api/alerts/${encodeURIComponent(id)}/evidence.zip`;
}

/** Alerts by id, listed newest (highest seq) first, at most `capacity` kept. */
export class AlertBook {
  private byId = new Map<string, Alert>();
  /** Updates for alerts not (yet) known, applied when the alert arrives. */
  private pending = new Map<string, AlertUpdate[]>();

  constructor(readonly capacity = 500) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Alert | undefined {
    return this.byId.get(id);
  }

  /** Newest first. */
  list(): Alert[] {
    return [...this.byId.values()].sort((x, y) => y.seq - x.seq);
  }

  /** A live `fight_alert`; returns whether it was new. */
  addEvent(e: FightAlert): boolean {
    return this.put(fromEvent(e));
  }

  /** Records from REST (a page of history, or the feed after login). */
  addRecords(records: AlertRecord[]): void {
    for (const r of records) this.put(fromRecord(r));
  }

  /** A live `alert_update`; returns the alert as it is now (undefined if unknown so far). */
  applyUpdate(u: AlertUpdate): Alert | undefined {
    const a = this.byId.get(u.id);
    if (!a) {
      const list = this.pending.get(u.id) ?? [];
      list.push(u);
      this.pending.set(u.id, list.slice(-8));
      return undefined;
    }
    const next = merge(a, {
      ...a,
      peakScore: u.peak_score,
      status: u.status,
      endedAt: u.ended_at,
      ackedBy: u.acked_by,
      note: u.note,
      clip: u.clip ?? null,
      assignee: u.assignee ?? null,
      outcome: u.outcome ?? null,
      reason: u.reason ?? null,
      resolvedBy: u.resolved_by ?? null,
      count: u.count || a.count,
    });
    this.byId.set(a.id, next);
    return next;
  }

  /** A live `alert_escalated`; the alert as it is now (undefined if unknown). */
  applyEscalation(e: AlertEscalated): Alert | undefined {
    const a = this.byId.get(e.id);
    if (!a) return undefined;
    const next = { ...a, escalations: Math.max(a.escalations, e.level) };
    this.byId.set(a.id, next);
    return next;
  }

  /** Flashes an alert that arrived live (even if a REST page brought it first). */
  markFresh(id: string): void {
    const a = this.byId.get(id);
    if (a && !a.fresh) this.byId.set(id, { ...a, fresh: true });
  }

  /** Stops flashing an alert (seen, or its flash ran out). */
  markSeen(id: string): void {
    const a = this.byId.get(id);
    if (a?.fresh) this.byId.set(id, { ...a, fresh: false });
  }

  clear(): void {
    this.byId.clear();
    this.pending.clear();
  }

  private put(incoming: Alert): boolean {
    const known = this.byId.get(incoming.id);
    if (known) {
      this.byId.set(incoming.id, merge(known, incoming));
      return false;
    }
    this.byId.set(incoming.id, incoming);
    for (const u of this.pending.get(incoming.id) ?? []) this.applyUpdate(u);
    this.pending.delete(incoming.id);
    if (this.byId.size > this.capacity) {
      const oldest = this.list().slice(this.capacity);
      for (const a of oldest) this.byId.delete(a.id);
    }
    return true;
  }
}
