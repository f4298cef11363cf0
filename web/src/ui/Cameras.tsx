import type { ConsoleModel } from "../model";
import { ago } from "./format";
import { useTick } from "./hooks";

/** Seconds between thumbnail refreshes (the server renews them every 2 s). */
const THUMB_EVERY_MS = 3000;

export function Cameras({ model, open }: { model: ConsoleModel; open: (camera: string) => void }) {
  const tick = useTick(THUMB_EVERY_MS);
  const cams = [...model.cameras.values()].sort((a, b) => a.site.localeCompare(b.site) || a.camera.localeCompare(b.camera));
  const metrics = new Map((model.latestMetrics?.cameras ?? []).map((c) => [c.camera, c]));
  return (
    <section class="panel cameras" aria-labelledby="cameras-title">
      <header class="panel-head">
        <h2 id="cameras-title">
          Cameras <span class="count">{cams.filter((c) => c.status === "online").length}/{cams.length} online</span>
        </h2>
      </header>
      {cams.length === 0 ? (
        <p class="empty">No cameras on this server (it may only take external detections).</p>
      ) : (
        <ul class="camera-grid">
          {cams.map((c) => {
            const m = metrics.get(c.camera);
            return (
              <li key={c.camera} class={`camera status-${c.status}`} data-camera={c.camera}>
                <button
                  type="button"
                  class="camera-frame"
                  onClick={() => open(c.camera)}
                  title={`Live view of ${c.camera}`}
                >
                  <span class="sr-only">Live view of {c.camera}: </span>
                  {c.latest_url && c.status !== "offline" ? (
                    <img src={`${c.latest_url}?t=${tick}`} alt={`Latest frame from ${c.camera}`} width={320} height={180} />
                  ) : (
                    <div class="thumb-none">{c.status === "offline" ? "offline" : "no frame yet"}</div>
                  )}
                </button>
                <div class="camera-info">
                  <strong>{c.camera}</strong> <span class="site">{c.site}</span>
                  {c.node && (
                    <span class="node muted" title="The fightwatch node running this camera">
                      on {c.node}
                    </span>
                  )}
                  <span class={`badge cam-${c.status}`}>{c.status}</span>
                </div>
                <div class="camera-stats muted">
                  {m ? (
                    <>
                      {m.capture_fps.toFixed(1)} fps · {m.inference_ms.toFixed(0)} ms
                      {m.analysis_lag_ms > 1000 && (
                        <span class="lagging" title="Analysis runs behind this camera">
                          {` · ${(m.analysis_lag_ms / 1000).toFixed(1)} s behind`}
                        </span>
                      )}
                      {m.inference_fps === 0 && m.skipped_fps > 0 && (
                        <span title="No window needed the model this second (nothing moved, or far below the threshold)">{" · idle"}</span>
                      )}
                      {m.dropped_frames > 0 && ` · ${m.dropped_frames} dropped`}
                    </>
                  ) : (
                    "no metrics yet"
                  )}
                </div>
                {c.error && (
                  <div class="camera-error" role="note">
                    {c.error} ({ago(c.since)})
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
