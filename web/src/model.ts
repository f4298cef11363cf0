// Everything the console knows, in one place the views subscribe to: alerts, cameras,
// metrics, chat and the link. Views render it; they hold no state of their own that matters.

import { AlertBook, type Alert } from "./alerts";
import { api, wsUrl, type CameraInfo, type Me } from "./api";
import { Connection, type LinkState, type SocketLike } from "./connection";
import {
  otherParticipant,
  privateRoom,
  siteChatRoom,
  type FalseAlarmReason,
  type MetricUpdate,
  type Outcome,
  type ServerMessage,
} from "./protocol";

/** Seconds of metrics the charts keep. */
export const METRIC_WINDOW = 180;

export interface ChatLine {
  seq: number;
  room: string;
  from: string;
  text: string;
  at: number;
}

export interface Room {
  id: string;
  title: string;
  kind: "site" | "dm";
  lines: ChatLine[];
  unread: number;
  loaded: boolean;
}

export interface MetricSeries {
  at: number[];
  clients: (number | null)[];
  cpu: (number | null)[];
  /** Per camera: capture fps, inference ms (null where there was no sample: a gap). */
  cameras: Map<string, { fps: (number | null)[]; ms: (number | null)[] }>;
}

export interface ConsoleEvents {
  /** A new alert arrived live (not from history): sound, notification, flash. */
  onNewAlert?: (a: Alert) => void;
  /** An alert nobody acknowledged in time was escalated (`level` 1, 2, …). */
  onEscalated?: (a: Alert, level: number) => void;
  /** A server error message worth showing (rate limit, refused ack…). */
  onServerError?: (message: string) => void;
  /** The session is no longer valid (logged out elsewhere, expired). */
  onSignedOut?: () => void;
}

export class ConsoleModel {
  readonly alerts = new AlertBook();
  cameras = new Map<string, CameraInfo>();
  latestMetrics: MetricUpdate | null = null;
  private nodeMetrics = new Map<string, MetricUpdate>();
  readonly metrics: MetricSeries = { at: [], clients: [], cpu: [], cameras: new Map() };
  readonly rooms = new Map<string, Room>();
  users: string[] = [];
  link: LinkState = { kind: "connecting", attempt: 0 };
  serverVersion = "";
  private openRoomId: string | null = null;
  private connection: Connection | null = null;
  private listeners = new Set<() => void>();
  private version = 0;
  /** Alerts this console has alarmed for (sound, notification, flash): each exactly once. */
  private alarmed = new Set<string>();

  constructor(
    readonly me: Me,
    private readonly events: ConsoleEvents = {},
    /** Where and how to open the WebSocket (tests pass a fake). */
    private readonly socketOptions: {
      url?: string;
      makeSocket?: (url: string) => SocketLike;
      /** The server's last seq when this user signed in: the first connection replays what
       * happened since, so an alert raised between sign-in and connecting still alarms. */
      afterSeq?: number;
    } = {},
  ) {}

  get canAck(): boolean {
    return this.me.role === "operator" || this.me.role === "admin";
  }

  get linkStats() {
    return this.connection?.stats ?? { connects: 0, resumed: 0, duplicatesDropped: 0 };
  }

  /** A change counter for views (`useSyncExternalStore` style). */
  get revision(): number {
    return this.version;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  changed(): void {
    this.version += 1;
    for (const fn of this.listeners) fn();
  }

  async start(): Promise<void> {
    this.connection = new Connection({
      url: this.socketOptions.url ?? wsUrl(),
      makeSocket: this.socketOptions.makeSocket,
      afterSeq: this.socketOptions.afterSeq,
      onMessage: (m) => this.onMessage(m),
      onState: (s) => this.onLink(s),
      onReset: () => void this.startOver(),
      onProtocolError: (e) => console.warn("fightwatch: ignored a bad frame:", e.message),
      onRevoked: () => this.events.onSignedOut?.(),
    });
    // Live first, then history: whatever REST returns is merged with live events, and the
    // merge only moves forward, so the order of arrival does not matter.
    this.connection.start();
    await this.reload();
  }

  stop(): void {
    this.connection?.stop();
    this.connection = null;
  }

  retryNow(): void {
    this.connection?.retryNow();
  }

  /** The server has another database: what we hold belongs to the old one (its ids may even
   * be reused), so forget it and load the new server's state. */
  private async startOver(): Promise<void> {
    this.alerts.clear();
    this.alarmed.clear();
    for (const room of this.rooms.values()) {
      room.lines = [];
      room.unread = 0;
    }
    await this.reload();
    if (this.openRoomId) await this.openRoom(this.openRoomId);
  }

  /** Loads the feed, cameras and people from REST. */
  async reload(): Promise<void> {
    const [alerts, cameras, users] = await Promise.all([
      api.alerts({ limit: 100 }),
      api.cameras(),
      api.users().catch(() => []),
    ]);
    this.alerts.addRecords(alerts);
    this.setCameras(cameras);
    this.users = users.map((u) => u.name).filter((n) => n !== this.me.user);
    for (const site of [...this.sites(), "all"]) this.ensureRoom(siteChatRoom(site), `#${site}`, "site");
    this.changed();
  }

  async refreshCameras(): Promise<void> {
    this.setCameras(await api.cameras());
    this.changed();
  }

  sites(): string[] {
    return [...new Set([...this.cameras.values()].map((c) => c.site))].sort();
  }

  /** Takes an alert (the operator becomes its assignee), over the WebSocket when live. */
  async take(id: string): Promise<void> {
    if (!this.connection?.send({ type: "take_alert", id })) {
      const update = await api.take(id);
      this.alerts.applyUpdate({ type: "alert_update", ...update });
      this.changed();
    }
  }

  /** Resolves an alert with its outcome. Over REST: a refusal (a false alarm without a
   * reason, an alert someone else resolved) comes back as an error to show. */
  async resolve(id: string, outcome: Outcome, reason: FalseAlarmReason | null, note: string): Promise<void> {
    const update = await api.resolve(id, { outcome, reason: reason ?? undefined, note: note || undefined });
    this.alerts.applyUpdate({ type: "alert_update", ...update });
    this.changed();
  }

  /** Acknowledges over the WebSocket when live, else over REST. */
  async ack(id: string, note: string): Promise<void> {
    const sent = this.connection?.send({ type: "ack_alert", id, note: note || undefined });
    if (!sent) {
      // REST answers the update's fields; the event is the same with its type tag.
      const update = await api.ack(id, note);
      this.alerts.applyUpdate({ type: "alert_update", ...update });
      this.changed();
    }
  }

  // --- chat ---------------------------------------------------------------------------------

  roomList(): Room[] {
    const rooms = [...this.rooms.values()];
    return [
      ...rooms.filter((r) => r.kind === "site").sort((a, b) => a.title.localeCompare(b.title)),
      ...rooms.filter((r) => r.kind === "dm").sort((a, b) => a.title.localeCompare(b.title)),
    ];
  }

  get activeRoom(): string | null {
    return this.openRoomId;
  }

  /** Opens a room: joins it (site rooms), loads its history, clears its unread count. */
  async openRoom(id: string): Promise<void> {
    const room = this.rooms.get(id);
    if (!room) return;
    this.openRoomId = id;
    room.unread = 0;
    this.changed();
    await this.loadHistory(room);
  }

  closeRoom(): void {
    this.openRoomId = null;
    this.changed();
  }

  /** The private conversation with `user`, created when needed. */
  dmWith(user: string): string {
    const id = privateRoom(this.me.user, user);
    this.ensureRoom(id, `@${user}`, "dm");
    return id;
  }

  /** Sends to a room; false when the link is down. */
  say(roomId: string, text: string): boolean {
    const other = otherParticipant(roomId, this.me.user);
    if (other) return this.connection?.send({ type: "private_message", to: other, text }) ?? false;
    return this.connection?.send({ type: "send_message", room: roomId, text }) ?? false;
  }

  private async loadHistory(room: Room): Promise<void> {
    const history = await api.messages(room.id, 200);
    for (const m of history) this.addLine({ ...m }, false);
    room.loaded = true;
    this.changed();
  }

  private ensureRoom(id: string, title: string, kind: Room["kind"]): Room {
    let room = this.rooms.get(id);
    if (!room) {
      room = { id, title, kind, lines: [], unread: 0, loaded: false };
      this.rooms.set(id, room);
      if (kind === "site") this.connection?.send({ type: "join_room", room: id });
    }
    return room;
  }

  /** Adds a line once (by seq), keeping the room in seq order. */
  private addLine(line: ChatLine, live: boolean): void {
    const other = otherParticipant(line.room, this.me.user);
    const room = this.rooms.get(line.room) ?? (other ? this.ensureRoom(line.room, `@${other}`, "dm") : undefined);
    if (!room) return;
    if (room.lines.some((l) => l.seq === line.seq)) return;
    room.lines.push(line);
    room.lines.sort((a, b) => a.seq - b.seq);
    if (room.lines.length > 500) room.lines.splice(0, room.lines.length - 500);
    if (live && this.openRoomId !== room.id && line.from !== this.me.user) room.unread += 1;
  }

  // --- events -------------------------------------------------------------------------------

  private onLink(s: LinkState): void {
    this.link = s;
    if (s.kind === "live" && this.metrics.at.length > 0) this.metricsGap();
    if (s.kind === "live") {
      // A new server session knows none of our rooms: join again, then fill any gap in the
      // open conversations (chat in rooms is not replayed to a client that had not joined).
      for (const room of this.rooms.values()) {
        if (room.kind === "site") this.connection?.send({ type: "join_room", room: room.id });
      }
      for (const room of this.rooms.values()) if (room.loaded) void this.loadHistory(room).catch(() => {});
      void this.refreshCameras().catch(() => {});
    }
    if (s.kind === "reconnecting" && s.attempt >= 3) {
      // A refused upgrade (expired token) looks like a lost connection in a browser.
      api.me().catch((e: { status?: number }) => {
        if (e.status === 401) {
          this.stop();
          this.events.onSignedOut?.();
        }
      });
    }
    this.changed();
  }

  private onMessage(m: ServerMessage): void {
    switch (m.type) {
      case "welcome_message":
        this.serverVersion = m.server_version;
        break;
      case "fight_alert": {
        // Every `fight_alert` the link delivers was raised after this console's starting
        // position (sign-in, or its first connection), exactly once: it alarms even when the
        // REST page fetched at start already brought the alert (that page races the socket).
        this.alerts.addEvent(m);
        if (!this.alarmed.has(m.id)) {
          this.alarmed.add(m.id);
          this.alerts.markFresh(m.id);
          const a = this.alerts.get(m.id);
          if (a) this.events.onNewAlert?.(a);
        }
        break;
      }
      case "alert_update":
        this.alerts.applyUpdate(m);
        break;
      case "alert_escalated": {
        // Escalations alarm again, louder: someone must act.
        const a = this.alerts.applyEscalation(m);
        if (a && a.status !== "acknowledged" && a.status !== "resolved") this.events.onEscalated?.(a, m.level);
        break;
      }
      case "receive_message":
        this.addLine({ seq: m.seq, room: m.room, from: m.from, text: m.text, at: m.at }, true);
        break;
      case "camera_status": {
        const known = this.cameras.get(m.camera);
        this.cameras.set(m.camera, {
          camera: m.camera,
          site: m.site,
          status: m.status,
          error: m.error,
          since: m.since,
          node: m.node,
          latest_url: known?.latest_url ?? null,
        });
        break;
      }
      case "metric_update":
        this.addMetrics(m);
        break;
      case "error":
        // Away for longer than the server replays: what was missed comes from REST instead.
        if (m.code === "resume_too_far") void this.reload().catch(() => {});
        else this.events.onServerError?.(`${m.code}: ${m.message}`);
        break;
    }
    this.changed();
  }

  private setCameras(list: CameraInfo[]): void {
    this.cameras = new Map(list.map((c) => [c.camera, c]));
  }

  /** Breaks the chart lines where the link was down (no samples then). */
  private metricsGap(): void {
    const s = this.metrics;
    const last = s.at[s.at.length - 1] ?? 0;
    s.at.push(Math.max(last + 0.001, this.link.kind === "live" ? this.link.since / 1000 - 0.5 : last + 0.001));
    s.clients.push(null);
    s.cpu.push(null);
    for (const series of s.cameras.values()) {
      series.fps.push(null);
      series.ms.push(null);
    }
  }

  /** On several nodes each sends its own update (its process, its cameras): the latest of
   * each node, heard from in the last 5 s, make one picture, sampled at most once a second. */
  private addMetrics(update: MetricUpdate): void {
    let m = update;
    if (update.node) {
      this.nodeMetrics.set(update.node, update);
      const fresh = [...this.nodeMetrics.values()].filter((n) => update.at - n.at < 5000);
      m = {
        ...update,
        cameras: fresh.flatMap((n) => n.cameras),
        cpu_percent: fresh.reduce((sum, n) => sum + n.cpu_percent, 0),
        rss_bytes: fresh.reduce((sum, n) => sum + n.rss_bytes, 0),
      };
      const last = this.metrics.at[this.metrics.at.length - 1];
      if (last !== undefined && update.at / 1000 - last < 0.9) {
        this.latestMetrics = m;
        return;
      }
    }
    this.latestMetrics = m;
    const s = this.metrics;
    s.at.push(m.at / 1000);
    s.clients.push(m.clients);
    s.cpu.push(m.cpu_percent);
    const n = s.at.length;
    for (const c of m.cameras) {
      if (!s.cameras.has(c.camera)) {
        s.cameras.set(c.camera, { fps: new Array(n - 1).fill(null), ms: new Array(n - 1).fill(null) });
      }
    }
    for (const [name, series] of s.cameras) {
      const c = m.cameras.find((x) => x.camera === name);
      series.fps.push(c ? c.capture_fps : null);
      series.ms.push(c ? c.inference_ms : null);
    }
    if (n > METRIC_WINDOW) {
      const cut = n - METRIC_WINDOW;
      s.at.splice(0, cut);
      s.clients.splice(0, cut);
      s.cpu.splice(0, cut);
      for (const series of s.cameras.values()) {
        series.fps.splice(0, cut);
        series.ms.splice(0, cut);
      }
    }
  }
}
