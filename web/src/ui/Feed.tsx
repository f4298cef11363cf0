import { useState } from "preact/hooks";
import { headline, type Alert } from "../alerts";
import type { ConsoleModel } from "../model";
import { ago, clock } from "./format";
import { useTick } from "./hooks";

export const STATUS_LABEL: Record<Alert["status"], string> = {
  active: "Active",
  ended: "Ended",
  acknowledged: "Acknowledged",
  resolved: "Resolved",
};

export function StatusBadge({ status }: { status: Alert["status"] }) {
  return <span class={`badge status-${status}`}>{STATUS_LABEL[status]}</span>;
}

/** The live feed, newest first. */
export function Feed({ model, open }: { model: ConsoleModel; open: (id: string) => void }) {
  useTick(5000);
  const [onlyOpen, setOnlyOpen] = useState(false);
  const all = model.alerts.list();
  const needsAck = (a: Alert) => a.status === "active" || a.status === "ended";
  const shown = onlyOpen ? all.filter(needsAck) : all;
  const waiting = all.filter(needsAck).length;
  return (
    <section class="panel feed" aria-labelledby="feed-title">
      <header class="panel-head">
        <h2 id="feed-title">
          Alerts <span class="count">{waiting} to acknowledge</span>
        </h2>
        <label class="toggle">
          <input type="checkbox" checked={onlyOpen} onChange={(e) => setOnlyOpen(e.currentTarget.checked)} />
          Unacknowledged only
        </label>
      </header>
      {shown.length === 0 ? (
        <p class="empty">No alerts{onlyOpen ? " waiting" : " yet"}. New ones appear here at once.</p>
      ) : (
        <ol class="alert-list" aria-live="polite" aria-relevant="additions">
          {shown.slice(0, 200).map((a) => (
            <li key={a.id}>
              <AlertCard alert={a} open={open} />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function AlertCard({ alert: a, open }: { alert: Alert; open: (id: string) => void }) {
  return (
    <button
      type="button"
      class={`alert-card status-${a.status}${a.fresh ? " fresh" : ""}`}
      data-alert-id={a.id}
      data-seq={a.seq}
      data-camera={a.camera}
      onClick={() => open(a.id)}
    >
      {a.snapshotUrl ? (
        <img class="thumb" src={a.snapshotUrl} alt="" loading="lazy" width={160} height={90} />
      ) : (
        <div class="thumb thumb-none" aria-hidden="true">
          no snapshot
        </div>
      )}
      <div class="alert-body">
        <div class="alert-title">
          <strong>{a.camera}</strong>
          <span class="site">{a.site}</span>
          <StatusBadge status={a.status} />
          {a.count > 1 && (
            <span class="badge count" title="Detections grouped into this alert">
              ×{a.count}
            </span>
          )}
          {a.escalations > 0 && (a.status === "active" || a.status === "ended") && (
            <span class="badge escalated" title="Nobody acknowledged it in time">
              escalated ×{a.escalations}
            </span>
          )}
        </div>
        <div class="alert-meta">
          <time dateTime={new Date(a.startedAt).toISOString()}>{clock(a.startedAt)}</time>
          <span class="muted">{ago(a.startedAt)}</span>
        </div>
        <div class="alert-meta">
          <span class="score" title="peak score">
            {headline(a)}
          </span>
          {a.ackedBy && <span class="muted">by {a.ackedBy}</span>}
          {a.assignee && <span class="muted">owner {a.assignee}</span>}
        </div>
      </div>
    </button>
  );
}
