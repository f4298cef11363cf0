import type { ConsoleModel } from "../model";
import { useTick } from "./hooks";

/** The connection indicator: live, connecting, or reconnecting with a countdown. */
export function LinkIndicator({ model }: { model: ConsoleModel }) {
  useTick(500);
  const link = model.link;
  const stats = model.linkStats;
  let label: string;
  let detail = "";
  switch (link.kind) {
    case "live":
      label = "Live";
      detail = `connected since ${new Date(link.since).toLocaleTimeString()}`;
      break;
    case "connecting":
      label = link.attempt > 0 ? "Reconnecting…" : "Connecting…";
      break;
    case "reconnecting": {
      const s = Math.max(0, Math.ceil((link.retryAt - Date.now()) / 1000));
      label = `Offline, retry in ${s} s`;
      detail = `${link.reason} (attempt ${link.attempt})`;
      break;
    }
    case "stopped":
      label = "Disconnected";
      break;
  }
  return (
    <div
      class={`link link-${link.kind}`}
      role="status"
      aria-live="polite"
      title={detail}
      data-state={link.kind}
      data-connects={stats.connects}
      data-resumed={stats.resumed}
      data-duplicates={stats.duplicatesDropped}
    >
      <span class="link-dot" aria-hidden="true" />
      <span class="link-label">{label}</span>
      {link.kind === "reconnecting" && (
        <button type="button" class="link-retry" onClick={() => model.retryNow()}>
          Retry now
        </button>
      )}
    </div>
  );
}
