// The console's live link: one WebSocket, reconnected with backoff, resumed from the last
// stored event it saw so that nothing is lost and nothing arrives twice.

import { Backoff } from "./backoff";
import {
  ProtocolError,
  parseServerMessage,
  seqOf,
  type ClientMessage,
  type ServerMessage,
  type WelcomeMessage,
} from "./protocol";

/** Close code of a server that is stopping (RFC 6455 "going away"): every console sees it at
 * once, so their reconnects are spread (audit round two: a restart must not synchronise them). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code of a client that fell behind (docs/protocol.md): reconnect and resume at once. */
export const CLOSE_LAGGING = 4008;
/** Close code of a connection whose session ended (logout elsewhere, user changed or deleted). */
export const CLOSE_REVOKED = 4001;

/** What the socket needs from the browser's WebSocket (a fake one in the tests). */
export interface SocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type LinkState =
  | { kind: "connecting"; attempt: number }
  | { kind: "live"; since: number; session: string }
  | { kind: "reconnecting"; attempt: number; retryAt: number; reason: string }
  | { kind: "stopped" };

export interface ConnectionOptions {
  /** ws(s) URL of `/ws`, without query. */
  url: string;
  /** Where to resume from (omitted: only what happens from the first connection on). */
  afterSeq?: number;
  makeSocket?: (url: string) => SocketLike;
  backoff?: Backoff;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Every message, stored events exactly once and in seq order. */
  onMessage: (msg: ServerMessage) => void;
  onState?: (state: LinkState) => void;
  /** The server's history restarted (its last seq is below ours): reload from REST. */
  onReset?: (welcome: WelcomeMessage) => void;
  /** A frame that is not valid protocol (logged, then ignored). */
  onProtocolError?: (err: ProtocolError) => void;
  /** The server ended this session (close 4001): sign in again; no reconnect. */
  onRevoked?: () => void;
}

/** Counters for the connection indicator and the end-to-end tests. */
export interface LinkStats {
  connects: number;
  /** Stored events received that were committed before the current connection's welcome:
   * events this console missed while it was away. */
  resumed: number;
  /** Stored events dropped because they had been seen already. */
  duplicatesDropped: number;
}

export class Connection {
  private socket: SocketLike | null = null;
  private timer: unknown = null;
  private stopped = false;
  /** The highest seq handled; null until the first welcome tells the server's position. */
  private lastSeq: number | null;
  /** The welcome's last_seq of the current connection: events at or below it were missed. */
  private welcomeSeq = 0;
  private state: LinkState = { kind: "connecting", attempt: 0 };
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly makeSocket: (url: string) => SocketLike;
  readonly stats: LinkStats = { connects: 0, resumed: 0, duplicatesDropped: 0 };

  constructor(private readonly opts: ConnectionOptions) {
    this.lastSeq = opts.afterSeq ?? null;
    this.backoff = opts.backoff ?? new Backoff();
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.makeSocket = opts.makeSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
  }

  /** The highest seq handled: a reconnect resumes after it. */
  get seq(): number | null {
    return this.lastSeq;
  }

  get current(): LinkState {
    return this.state;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Closes for good (logout, page unload). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.close(1000, "bye");
    }
    this.setState({ kind: "stopped" });
  }

  /** Sends when connected; returns false otherwise (the caller tells the user). */
  send(msg: ClientMessage): boolean {
    if (!this.socket || this.state.kind !== "live" || this.socket.readyState !== 1) return false;
    this.socket.send(JSON.stringify(msg));
    return true;
  }

  /** Reconnects now instead of waiting for the backoff timer ("retry now" button). */
  retryNow(): void {
    if (this.state.kind !== "reconnecting") return;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.open();
  }

  private url(): string {
    // `after_seq` on the URL is the atomic form of `resume`: the server sets the position
    // before it sends anything, so no live event can slip between welcome and replay.
    return this.lastSeq !== null ? `${this.opts.url}?after_seq=${this.lastSeq}` : this.opts.url;
  }

  private open(): void {
    if (this.stopped) return;
    this.setState({ kind: "connecting", attempt: this.backoff.attempts });
    let socket: SocketLike;
    try {
      socket = this.makeSocket(this.url());
    } catch (e) {
      this.scheduleReconnect(`cannot open: ${String(e)}`);
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev) => this.onFrame(ev.data);
    socket.onerror = () => {
      // The close event follows with the details.
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (ev.code === CLOSE_REVOKED) {
        this.stop();
        this.opts.onRevoked?.();
        return;
      }
      if (ev.code === CLOSE_LAGGING) {
        // Not the network's fault: come back at once and resume.
        this.backoff.reset();
      }
      this.scheduleReconnect(closeReason(ev.code, ev.reason), ev.code === CLOSE_GOING_AWAY);
    };
  }

  private onFrame(data: unknown): void {
    if (typeof data !== "string") {
      this.opts.onProtocolError?.(new ProtocolError("binary frame from the server"));
      return;
    }
    let msg: ServerMessage;
    try {
      msg = parseServerMessage(data);
    } catch (e) {
      if (e instanceof ProtocolError) this.opts.onProtocolError?.(e);
      else throw e;
      return;
    }
    if (msg.type === "welcome_message") {
      this.onWelcome(msg);
      this.opts.onMessage(msg);
      return;
    }
    const seq = seqOf(msg);
    if (seq !== null) {
      if (this.lastSeq !== null && seq <= this.lastSeq) {
        this.stats.duplicatesDropped += 1;
        return;
      }
      this.lastSeq = seq;
      if (seq <= this.welcomeSeq) this.stats.resumed += 1;
    }
    this.opts.onMessage(msg);
  }

  private onWelcome(w: WelcomeMessage): void {
    this.stats.connects += 1;
    this.welcomeSeq = w.last_seq;
    if (this.lastSeq === null) {
      // First connection of this page: history comes from REST, live events from here on.
      this.lastSeq = w.last_seq;
    } else if (w.last_seq < this.lastSeq) {
      // A server with a different (new or restored) database: our position means nothing
      // there. Start from its position and let the app reload its state.
      this.lastSeq = w.last_seq;
      this.opts.onReset?.(w);
    }
    this.backoff.reset();
    this.setState({ kind: "live", since: this.now(), session: w.session });
  }

  private scheduleReconnect(reason: string, serverLeft = false): void {
    if (this.stopped) return;
    const delay = serverLeft ? this.backoff.nextAfterServerLeft() : this.backoff.next();
    this.setState({ kind: "reconnecting", attempt: this.backoff.attempts, retryAt: this.now() + delay, reason });
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.open();
    }, delay);
  }

  private setState(s: LinkState): void {
    this.state = s;
    this.opts.onState?.(s);
  }
}

function closeReason(code: number, reason: string): string {
  if (code === CLOSE_LAGGING) return "fell behind; resuming";
  if (code === 1001) return reason || "server went away";
  if (code === 1006) return "connection lost";
  if (code === 1009) return "message too big";
  return reason || `closed (${code})`;
}
