import { useEffect, useRef, useState } from "preact/hooks";
import { clipUrl, liveUrl, liveVideoUrl } from "../alerts";
import { LiveVideoPlayer, mseSupported } from "../livevideo";
import type { ClipInfo } from "../protocol";

/** Where a mark sits on the clip's bar, as a CSS percentage. */
export function markPosition(ms: number, clip: ClipInfo): string {
  const f = clip.duration_ms > 0 ? Math.min(1, Math.max(0, ms / clip.duration_ms)) : 0;
  return `${(f * 100).toFixed(2)}%`;
}

/** The incident clip with marks for the incident's start, peak and end (click one to seek). */
export function ClipPlayer({ id, clip, camera }: { id: string; clip: ClipInfo; camera: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [failed, setFailed] = useState(false);
  // Play from a little before the incident: the pre-roll is there, the start is what matters.
  const seek = (ms: number) => {
    const v = video.current;
    if (v) v.currentTime = Math.max(0, ms / 1000);
  };
  const marks: [string, number | null][] = [
    ["start", clip.start_ms],
    ["peak", clip.peak_ms],
    ["end", clip.end_ms],
  ];
  return (
    <figure class="clip">
      {failed ? (
        <div class="thumb-none big">This browser cannot play the clip; download it below.</div>
      ) : (
        <video
          ref={video}
          class="clip-video"
          src={clipUrl(id)}
          controls
          preload="metadata"
          playsInline
          onError={() => setFailed(true)}
          aria-label={`Clip of the incident on ${camera}`}
        />
      )}
      <div class="clip-marks" role="group" aria-label="Incident marks">
        {marks.map(([name, ms]) =>
          ms === null ? null : (
            <button
              type="button"
              key={name}
              class={`clip-mark mark-${name}`}
              style={{ left: markPosition(ms, clip) }}
              onClick={() => seek(ms)}
              title={`Incident ${name} at ${(ms / 1000).toFixed(1)} s`}
              aria-label={`Go to the incident ${name} (${(ms / 1000).toFixed(1)} s)`}
            />
          ),
        )}
      </div>
      <figcaption class="muted">
        {(clip.duration_ms / 1000).toFixed(1)} s · {clip.method === "remux" ? "camera's own video" : "encoded here"} ·{" "}
        <a href={clipUrl(id)} download>
          download
        </a>{" "}
        · <span title={`SHA-256 ${clip.sha256}`}>sha256 {clip.sha256.slice(0, 12)}…</span>
      </figcaption>
    </figure>
  );
}

/** A camera's live view: its own H.264 through Media Source Extensions where the server has
 * it and the browser plays it, else MJPEG (privacy-masked cameras always: the mask is burnt
 * into the JPEGs). The stream closes when this unmounts. */
export function LiveView({ camera }: { camera: string }) {
  const [mode, setMode] = useState<"video" | "mjpeg">(mseSupported() ? "video" : "mjpeg");
  const [state, setState] = useState<"loading" | "live" | "failed">("loading");
  const [why, setWhy] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const element = video.current;
    if (mode !== "video" || !element) return;
    const player = new LiveVideoPlayer(element, liveVideoUrl(camera), {
      playing: () => setState("live"),
      unavailable: (reason) => {
        setWhy(reason);
        setState("loading");
        setMode("mjpeg");
      },
    });
    return () => player.close();
  }, [camera, mode]);
  return (
    <figure class="live" data-live-mode={mode}>
      {state === "failed" ? (
        <div class="thumb-none big">No live view: the camera may be offline or run on another node.</div>
      ) : mode === "video" ? (
        <video ref={video} class="live-video" muted autoplay playsInline aria-label={`Live video of ${camera}`} />
      ) : (
        <img
          class="live-img"
          src={liveUrl(camera)}
          alt={`Live view of ${camera}`}
          onLoad={() => setState("live")}
          onError={() => setState("failed")}
        />
      )}
      <figcaption class="muted">
        {state === "live" ? <span class="badge cam-online">live</span> : state === "loading" ? "connecting…" : null} {camera}
        {state === "live" && (
          <span class="live-mode" title={why ?? undefined}>
            {" "}
            · {mode === "video" ? "camera's own video" : why ? `JPEG frames: ${why}` : "JPEG frames"}
          </span>
        )}
      </figcaption>
    </figure>
  );
}

/** A camera's live view in a modal dialog. */
export function LiveDialog({ camera, close }: { camera: string; close: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, [camera]);
  return (
    <dialog ref={dialog} class="detail live-dialog" aria-labelledby="live-title" onClose={close}>
      <header class="detail-head">
        <h2 id="live-title">
          Live: <strong>{camera}</strong>
        </h2>
        <button type="button" class="icon" onClick={() => dialog.current?.close()} aria-label="Close">
          ✕
        </button>
      </header>
      <LiveView camera={camera} />
    </dialog>
  );
}
