import { beforeEach, describe, expect, it } from "vitest";
import { Backoff } from "./backoff";
import { CLOSE_LAGGING, Connection, type LinkState } from "./connection";
import type { ServerMessage } from "./protocol";
import { FakeSocket, fightAlert as alert } from "./testing";

let sockets: FakeSocket[];
let timers: { fn: () => void; ms: number }[];
let got: ServerMessage[];
let states: LinkState[];
let resets: number;
let protocolErrors: string[];

function connection(afterSeq?: number) {
  return new Connection({
    url: "ws://host/ws",
    afterSeq,
    makeSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    backoff: new Backoff(500, 30_000, () => 0.5),
    now: () => 1000,
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      timers = timers.filter((x) => x !== t);
    },
    onMessage: (m) => got.push(m),
    onState: (s) => states.push(s),
    onReset: () => (resets += 1),
    onProtocolError: (e) => protocolErrors.push(e.message),
  });
}

/** Fires the pending reconnect timer. */
function fire() {
  const t = timers.shift();
  if (!t) throw new Error("no timer pending");
  t.fn();
}

const seqs = () => got.flatMap((m) => ("seq" in m ? [m.seq] : []));

beforeEach(() => {
  sockets = [];
  timers = [];
  got = [];
  states = [];
  resets = 0;
  protocolErrors = [];
});

describe("Connection", () => {
  it("first connects without a position, then resumes after the last seq it saw", () => {
    const c = connection();
    c.start();
    expect(sockets[0].url).toBe("ws://host/ws");
    sockets[0].open(10);
    expect(c.current.kind).toBe("live");
    sockets[0].frame(alert(11));
    sockets[0].frame(alert(12));
    sockets[0].drop();
    expect(c.current).toMatchObject({ kind: "reconnecting", attempt: 1, reason: "connection lost" });
    fire();
    expect(sockets[1].url).toBe("ws://host/ws?after_seq=12");
  });

  it("resumes from the welcome's position even when nothing happened yet", () => {
    const c = connection();
    c.start();
    sockets[0].open(0);
    sockets[0].drop();
    fire();
    expect(sockets[1].url).toBe("ws://host/ws?after_seq=0");
  });

  it("delivers each stored event once, in order, across a reconnect that replays some twice", () => {
    const c = connection();
    c.start();
    sockets[0].open(0);
    for (const s of [1, 2, 3]) sockets[0].frame(alert(s));
    sockets[0].drop();
    fire();
    sockets[1].open(6); // 4..6 happened while we were away
    // The server replays 4..6, and a proxy or a racing replay may repeat some.
    for (const s of [3, 4, 5, 5, 6, 7, 6, 8]) sockets[1].frame(alert(s));
    expect(seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(c.stats).toEqual({ connects: 2, resumed: 3, duplicatesDropped: 3 });
    expect(c.seq).toBe(8);
  });

  it("backs off exponentially while the server is down and starts over once connected", () => {
    const c = connection();
    c.start();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      sockets[i].drop();
      delays.push(timers[0].ms);
      fire();
    }
    expect(delays).toEqual([375, 750, 1500, 3000, 6000]);
    sockets[5].open(0);
    sockets[5].drop();
    expect(timers[0].ms).toBe(375);
    expect(c.current.kind).toBe("reconnecting");
  });

  it("comes back at once when closed for lagging", () => {
    const c = connection();
    c.start();
    sockets[0].drop();
    fire();
    sockets[1].drop();
    fire();
    sockets[2].open(0);
    sockets[2].frame(alert(1));
    sockets[2].drop(CLOSE_LAGGING, "lagging: resume after seq 1");
    expect(timers[0].ms).toBe(375);
    expect(c.current).toMatchObject({ reason: "fell behind; resuming" });
    fire();
    expect(sockets[3].url).toBe("ws://host/ws?after_seq=1");
  });

  it("starts over when the server's history is behind ours (a new database)", () => {
    const c = connection(50);
    c.start();
    expect(sockets[0].url).toBe("ws://host/ws?after_seq=50");
    sockets[0].open(3);
    expect(resets).toBe(1);
    expect(c.seq).toBe(3);
    sockets[0].frame(alert(4));
    expect(seqs()).toEqual([4]);
  });

  it("ignores malformed frames without losing the connection", () => {
    const c = connection();
    c.start();
    sockets[0].open(0);
    sockets[0].frame("{not json");
    sockets[0].frame({ type: "fight_alert", id: "x" });
    sockets[0].frame(alert(1));
    expect(protocolErrors).toHaveLength(2);
    expect(seqs()).toEqual([1]);
    expect(c.current.kind).toBe("live");
  });

  it("sends only while live, and stop() ends reconnecting", () => {
    const c = connection();
    c.start();
    expect(c.send({ type: "join_room", room: "chat:hq" })).toBe(false);
    sockets[0].open(0);
    expect(c.send({ type: "join_room", room: "chat:hq" })).toBe(true);
    expect(sockets[0].sentJson()[0]).toEqual({ type: "join_room", room: "chat:hq" });
    sockets[0].drop();
    c.stop();
    expect(timers).toHaveLength(0);
    expect(c.current.kind).toBe("stopped");
    expect(sockets).toHaveLength(1);
  });

  it("retries at once on request while waiting", () => {
    const c = connection();
    c.start();
    sockets[0].drop();
    c.retryNow();
    expect(sockets).toHaveLength(2);
    expect(timers).toHaveLength(0);
  });
});
