import { useEffect, useRef, useState } from "preact/hooks";
import { api, type TimelineEntry } from "../api";
import type { ConsoleModel } from "../model";
import { seqOf, type FalseAlarmReason, type Outcome } from "../protocol";
import { dateTime, duration, percent, clock } from "./format";
import { StatusBadge } from "./Feed";
import { evidenceUrl } from "../alerts";
import { ClipPlayer, LiveView } from "./Media";

type View = "clip" | "snapshot" | "heatmap" | "live";
const VIEW_LABEL: Record<View, string> = { clip: "Clip", snapshot: "Snapshot", heatmap: "Heat map", live: "Live" };

const OUTCOME_LABEL: Record<Outcome, string> = { confirmed: "Confirmed fight", false_alarm: "False alarm", test: "Test" };
const REASON_LABEL: Record<FalseAlarmReason, string> = {
  dancing: "dancing",
  sport: "sport (boxing, martial arts)",
  play: "play, horseplay",
  crowd: "crowd",
  camera_issue: "camera issue",
  other: "other (say in the note)",
};

/** One alert in a modal dialog: large snapshot, facts, timeline, acknowledgement. */
export function AlertDetail({ model, id, close }: { model: ConsoleModel; id: string; close: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [timeline, setTimeline] = useState<TimelineEntry[] | null>(null);
  const [note, setNote] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [missing, setMissing] = useState(false);
  const alert = model.alerts.get(id);
  const [chosen, setChosen] = useState<View | null>(null);
  const [outcome, setOutcome] = useState<Outcome>("confirmed");
  const [reason, setReason] = useState<FalseAlarmReason>("dancing");
  const [resolveNote, setResolveNote] = useState("");
  // The clip when there is one, else the snapshot (until the operator picks).
  const view: View = chosen ?? (alert?.clip ? "clip" : "snapshot");

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    model.alerts.markSeen(id);
  }, [id]);

  // Alerts outside the feed (history pages) are fetched.
  useEffect(() => {
    if (alert) return;
    api
      .alert(id)
      .then((r) => {
        model.alerts.addRecords([r]);
        model.changed();
      })
      .catch(() => setMissing(true));
  }, [id, !!alert]);

  // The timeline follows the alert's status.
  useEffect(() => {
    api
      .timeline(id)
      .then(setTimeline)
      .catch(() => setTimeline([]));
  }, [id, alert?.status, alert?.peakScore, !!alert?.clip, alert?.assignee]);

  async function act(what: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  function resolve(e: Event) {
    e.preventDefault();
    void act(() =>
      model.resolve(id, outcome, outcome === "false_alarm" ? reason : null, resolveNote.trim()).then(() => setResolveNote("")),
    );
  }

  async function acknowledge(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await model.ack(id, note.trim());
      setNote("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog ref={dialog} class="detail" aria-labelledby="detail-title" onClose={close}>
      <header class="detail-head">
        <h2 id="detail-title">
          {alert ? (
            <>
              {alert.label} on <strong>{alert.camera}</strong> <span class="site">{alert.site}</span>{" "}
              <StatusBadge status={alert.status} />
            </>
          ) : missing ? (
            "Alert not found"
          ) : (
            "Loading…"
          )}
        </h2>
        <button type="button" class="icon" onClick={() => dialog.current?.close()} aria-label="Close">
          ✕
        </button>
      </header>
      {alert && (
        <div class="detail-body">
          <div class="detail-snapshot">
            <div class="media-tabs" role="tablist" aria-label="Evidence">
              {(["clip", "snapshot", "heatmap", "live"] as View[])
                .filter((v) => v !== "heatmap" || alert.heatmapUrl)
                .map((v) => (
                <button
                  type="button"
                  role="tab"
                  key={v}
                  aria-selected={view === v}
                  class={view === v ? "tab selected" : "tab"}
                  onClick={() => setChosen(v)}
                >
                  {VIEW_LABEL[v]}
                </button>
              ))}
            </div>
            {view === "clip" &&
              (alert.clip ? (
                <ClipPlayer id={alert.id} clip={alert.clip} camera={alert.camera} />
              ) : (
                <div class="thumb-none big">
                  {alert.status === "active" ? "The clip is being recorded…" : "No clip for this alert"}
                </div>
              ))}
            {view === "snapshot" &&
              (alert.snapshotUrl ? (
                <a href={alert.snapshotUrl} target="_blank" rel="noopener" class="snapshot-frame">
                  <img src={alert.snapshotUrl} alt={`Snapshot of ${alert.camera} when the fight was detected`} />
                  {alert.region && <RegionBox region={alert.region} />}
                </a>
              ) : (
                <div class="thumb-none big">No snapshot for this alert</div>
              ))}
            {view === "heatmap" && alert.heatmapUrl && (
              <a href={alert.heatmapUrl} target="_blank" rel="noopener">
                <img
                  src={alert.heatmapUrl}
                  alt={`Heat map of where in ${alert.camera}'s picture the model saw the fight`}
                />
              </a>
            )}
            {view === "live" && <LiveView camera={alert.camera} />}
            {model.canAck && (
              <p class="export">
                <a class="button" href={evidenceUrl(alert.id)} download>
                  Export signed evidence
                </a>{" "}
                <span class="muted">(clip, snapshot, heat map, timeline; the export is recorded)</span>
              </p>
            )}
          </div>
          <div class="detail-side">
            <dl class="facts">
              <dt>Score</dt>
              <dd>
                {percent(alert.score)} at start, peak <strong>{percent(alert.peakScore)}</strong>
              </dd>
              <dt>Started</dt>
              <dd>{dateTime(alert.startedAt)}</dd>
              <dt>Ended</dt>
              <dd>
                {alert.endedAt
                  ? `${clock(alert.endedAt)} (${duration(alert.startedAt, alert.endedAt)})`
                  : "still going"}
              </dd>
              <dt>Source</dt>
              <dd>
                {alert.source}
                {alert.count > 1 && ` · ${alert.count} detections grouped into this alert`}
              </dd>
              <dt>Owner</dt>
              <dd class="assignee">
                {alert.assignee ? <strong>{alert.assignee}</strong> : <span class="muted">nobody yet</span>}{" "}
                {model.canAck && alert.status !== "resolved" && alert.assignee !== model.me.user && (
                  <button type="button" class="small" disabled={busy} onClick={() => void act(() => model.take(id))}>
                    Take
                  </button>
                )}
              </dd>
              {alert.outcome && (
                <>
                  <dt>Outcome</dt>
                  <dd class="outcome">
                    <strong>{OUTCOME_LABEL[alert.outcome]}</strong>
                    {alert.reason && ` (${REASON_LABEL[alert.reason]})`} by {alert.resolvedBy}
                  </dd>
                </>
              )}
              {alert.ackedBy && (
                <>
                  <dt>Acknowledged</dt>
                  <dd class="ack-info">
                    by <strong>{alert.ackedBy}</strong>
                    {alert.note && <q>{alert.note}</q>}
                  </dd>
                </>
              )}
            </dl>
            <h3>Timeline</h3>
            <ol class="timeline">
              {(timeline ?? []).map((t, i, all) => (
                <li key={`${t.at}-${String(seqOf(t.event))}`}>
                  <time>{clock(t.at)}</time> {describe(t, all[i - 1])}
                  {detectionClip(t) && (
                    <>
                      {" "}
                      <a href={detectionClip(t)} target="_blank" rel="noopener">
                        play
                      </a>
                    </>
                  )}
                  {detectionSnapshot(t) && (
                    <a class="detection-shot" href={detectionSnapshot(t)} target="_blank" rel="noopener">
                      <img src={detectionSnapshot(t)} alt="this detection's snapshot" loading="lazy" />
                    </a>
                  )}
                </li>
              ))}
              {timeline === null && <li class="muted">loading…</li>}
            </ol>
            {model.canAck && alert.status !== "resolved" && (
              <form class="resolve-form" onSubmit={resolve} aria-label="Resolve">
                <fieldset>
                  <legend>Resolve: how did it end?</legend>
                  {(Object.keys(OUTCOME_LABEL) as Outcome[]).map((o) => (
                    <label key={o} class="radio">
                      <input type="radio" name="outcome" value={o} checked={outcome === o} onChange={() => setOutcome(o)} />
                      {OUTCOME_LABEL[o]}
                    </label>
                  ))}
                </fieldset>
                {outcome === "false_alarm" && (
                  <label>
                    What was it?
                    <select name="reason" value={reason} onChange={(e) => setReason(e.currentTarget.value as FalseAlarmReason)}>
                      {(Object.keys(REASON_LABEL) as FalseAlarmReason[]).map((r) => (
                        <option key={r} value={r}>
                          {REASON_LABEL[r]}
                        </option>
                      ))}
                    </select>
                  </label>
                )}
                <label>
                  Resolution note
                  <input name="resolve-note" value={resolveNote} maxLength={500} onInput={(e) => setResolveNote(e.currentTarget.value)} />
                </label>
                <button type="submit" disabled={busy}>
                  Resolve
                </button>
              </form>
            )}
            {(alert.status === "active" || alert.status === "ended") &&
              (model.canAck ? (
                <form class="ack-form" onSubmit={acknowledge}>
                  <label>
                    Note (what was done)
                    <textarea
                      name="note"
                      rows={2}
                      maxLength={500}
                      value={note}
                      onInput={(e) => setNote(e.currentTarget.value)}
                      placeholder="guard sent to the lobby"
                    />
                  </label>
                  <div class="form-error" role="alert">
                    {error}
                  </div>
                  <button type="submit" class="primary" disabled={busy}>
                    Acknowledge
                  </button>
                </form>
              ) : (
                <p class="muted">Only operators can acknowledge alerts.</p>
              ))}
          </div>
        </div>
      )}
    </dialog>
  );
}

/** A grouped detection's own clip (this console's API only). */
function detectionClip(t: TimelineEntry): string | undefined {
  const url = (t.event as Record<string, unknown>).detection_clip_url;
  return typeof url === "string" && url.startsWith("/api/alerts/") ? url : undefined;
}

/** The fight's region drawn over the snapshot (`[x0, y0, x1, y1]`, 0–1 of the picture). */
function RegionBox({ region }: { region: [number, number, number, number] }) {
  const [x0, y0, x1, y1] = region;
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  return (
    <span
      class="region-box"
      data-testid="region-box"
      title="Where the model saw the fight"
      style={{ left: pct(x0), top: pct(y0), width: pct(x1 - x0), height: pct(y1 - y0) }}
    />
  );
}

/** A grouped detection's own snapshot (this console's API only). */
function detectionSnapshot(t: TimelineEntry): string | undefined {
  const url = (t.event as Record<string, unknown>).detection_snapshot_url;
  return typeof url === "string" && url.startsWith("/api/alerts/") ? url : undefined;
}

function describe(t: TimelineEntry, prev: TimelineEntry | undefined): string {
  const e = t.event as Record<string, unknown>;
  if (e.type === "fight_alert") return `raised, score ${percent(Number(e.score))}`;
  if (typeof e.exported_by === "string") return `evidence exported by ${e.exported_by}`;
  const prevEvent = prev?.event as Record<string, unknown> | undefined;
  if (e.status === "resolved" && prevEvent?.status !== "resolved") {
    const outcome = OUTCOME_LABEL[e.outcome as Outcome] ?? String(e.outcome);
    const why = e.reason ? ` (${REASON_LABEL[e.reason as FalseAlarmReason] ?? String(e.reason)})` : "";
    return `resolved by ${String(e.resolved_by)}: ${outcome}${why}${e.note ? `: “${String(e.note)}”` : ""}`;
  }
  if (typeof e.assignee === "string" && e.assignee !== prevEvent?.assignee) return `owned by ${e.assignee}`;
  if (typeof e.detection_clip_url === "string") {
    const n = /detections\/(\d+)\.mp4$/.exec(e.detection_clip_url)?.[1] ?? "?";
    return `clip of detection ${n} saved`;
  }
  // A grouped detection: the count went up.
  if (typeof e.count === "number" && typeof prevEvent?.count === "number" && e.count > prevEvent.count) {
    return `detected again (detection ${e.count}), score ${percent(Number(e.peak_score))} at most`;
  }
  // Every later update carries the clip too: only the one that brought it says so.
  const clip = e.clip as { duration_ms?: number } | null | undefined;
  const before = prevEvent?.clip;
  if (clip && typeof clip.duration_ms === "number" && !before) {
    return `clip saved (${(clip.duration_ms / 1000).toFixed(1)} s)`;
  }
  switch (e.status) {
    case "active":
      return `score rose to ${percent(Number(e.peak_score))}`;
    case "ended":
      return "ended (scores fell below the threshold)";
    case "acknowledged":
      return `acknowledged by ${String(e.acked_by)}${e.note ? `: “${String(e.note)}”` : ""}`;
    default:
      return String(e.status);
  }
}
