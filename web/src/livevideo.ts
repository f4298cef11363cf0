// Live video without re-encoding: the camera's own H.264 as fragmented MP4 over a WebSocket
// (`/api/cameras/NAME/live.ws`, docs/protocol.md), played through Media Source Extensions.
// The player stays near the live edge (it jumps forward when it falls behind) and keeps only
// the last seconds in its buffer. When the server has no video for the camera (a privacy mask,
// a codec other than H.264, a camera on another node) or the browser has no MSE, the caller
// falls back to the MJPEG live view.

import type { LiveVideoMessage } from "./generated/protocol";

/** How far behind the newest frame the player may fall before it jumps forward (seconds). */
export const MAX_LAG_S = 1.5;
/** Where the player sits behind the newest frame after a jump (seconds). */
export const EDGE_S = 0.3;
/** Video kept behind the play position; older video is removed from the buffer (seconds). */
export const KEEP_BEHIND_S = 10;
/** Fragments waiting to be appended before the player gives up (a stalled decoder). */
export const MAX_QUEUED = 600;

/** The play position to jump to when `current` is too far behind `bufferedEnd`; else null. */
export function catchUp(current: number, bufferedEnd: number): number | null {
  return bufferedEnd - current > MAX_LAG_S ? Math.max(0, bufferedEnd - EDGE_S) : null;
}

/** The buffered range to remove behind the play position, if it is worth a removal. */
export function trimRange(current: number, bufferedStart: number): [number, number] | null {
  const end = current - KEEP_BEHIND_S;
  return end - bufferedStart > 2 ? [bufferedStart, end] : null;
}

/** Whether this browser can play `codec` through MSE (any MSE at all without a codec). */
export function mseSupported(codec?: string): boolean {
  const ms = (globalThis as { MediaSource?: typeof MediaSource }).MediaSource;
  if (typeof ms !== "function") return false;
  return codec === undefined || ms.isTypeSupported(`video/mp4; codecs="${codec}"`);
}

/** A text message of the live video socket, checked; null when it is not one. */
export function parseLiveVideoMessage(text: string): LiveVideoMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof m !== "object" || m === null) return null;
  const o = m as Record<string, unknown>;
  if (o.type === "stream" && typeof o.codec === "string" && typeof o.width === "number" && typeof o.height === "number") {
    return { type: "stream", codec: o.codec, width: o.width, height: o.height };
  }
  if (o.type === "unavailable" && typeof o.reason === "string") return { type: "unavailable", reason: o.reason };
  return null;
}

export interface LiveVideoEvents {
  /** Frames are showing. */
  playing(): void;
  /** No video (with why, for people): show the MJPEG live view instead. */
  unavailable(reason: string): void;
}

/** Plays a camera's live video socket in a `<video>` element until `close`. */
export class LiveVideoPlayer {
  private readonly socket: WebSocket;
  private source: MediaSource | null = null;
  private buffer: SourceBuffer | null = null;
  private queue: ArrayBuffer[] = [];
  private closed = false;
  private started = false;
  private objectUrl: string | null = null;

  constructor(
    private readonly video: HTMLVideoElement,
    url: string,
    private readonly events: LiveVideoEvents,
  ) {
    this.socket = new WebSocket(url);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (e: MessageEvent) => this.message(e.data);
    this.socket.onclose = () => {
      if (!this.closed && !this.started) this.fail("the live video connection closed");
    };
    video.addEventListener("playing", this.onPlaying);
  }

  /** Stops the stream and lets go of the video element. */
  close(): void {
    this.closed = true;
    this.socket.onmessage = null;
    this.socket.onclose = null;
    this.socket.close();
    this.video.removeEventListener("playing", this.onPlaying);
    this.detach();
  }

  private readonly onPlaying = () => {
    if (this.closed) return;
    this.started = true;
    this.events.playing();
  };

  private message(data: unknown): void {
    if (this.closed) return;
    if (typeof data === "string") {
      const m = parseLiveVideoMessage(data);
      if (m?.type === "stream") this.startStream(m.codec);
      else if (m?.type === "unavailable") this.fail(m.reason);
      return;
    }
    if (!(data instanceof ArrayBuffer) || !this.source) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.fail("the browser could not keep up with the live video");
      return;
    }
    this.queue.push(data);
    this.pump();
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.events.unavailable(reason);
  }

  /** A new stream (its init segment comes next): a fresh MediaSource for it. */
  private startStream(codec: string): void {
    if (!mseSupported(codec)) {
      this.fail(`this browser cannot play ${codec}`);
      return;
    }
    this.detach();
    const source = new MediaSource();
    this.source = source;
    this.queue = [];
    this.objectUrl = URL.createObjectURL(source);
    this.video.src = this.objectUrl;
    source.addEventListener(
      "sourceopen",
      () => {
        if (this.source !== source) return;
        try {
          const buffer = source.addSourceBuffer(`video/mp4; codecs="${codec}"`);
          buffer.addEventListener("updateend", () => this.pump());
          this.buffer = buffer;
        } catch (e) {
          this.fail(`cannot play the live video: ${String(e)}`);
          return;
        }
        this.pump();
      },
      { once: true },
    );
  }

  /** Appends the next fragment when the buffer is free; stays near the live edge. */
  private pump(): void {
    const buffer = this.buffer;
    if (!buffer || buffer.updating || this.closed) return;
    const ranges = buffer.buffered;
    if (ranges.length > 0) {
      const jump = catchUp(this.video.currentTime, ranges.end(ranges.length - 1));
      if (jump !== null) this.video.currentTime = jump;
      const trim = trimRange(this.video.currentTime, ranges.start(0));
      if (trim) {
        buffer.remove(trim[0], trim[1]);
        return;
      }
    }
    const next = this.queue.shift();
    if (!next) return;
    try {
      buffer.appendBuffer(next);
    } catch (e) {
      this.fail(`the live video could not be buffered: ${String(e)}`);
      return;
    }
    if (this.video.paused) this.video.play().catch(() => undefined);
  }

  private detach(): void {
    this.buffer = null;
    if (this.source?.readyState === "open") {
      try {
        this.source.endOfStream();
      } catch {
        // already ended
      }
    }
    this.source = null;
    this.video.removeAttribute("src");
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
  }
}
