import { useEffect, useRef, useState } from "preact/hooks";
import type { ConsoleModel } from "../model";
import { clock } from "./format";

/** Operator chat: a room per site plus #all, and private conversations. */
export function Chat({ model }: { model: ConsoleModel }) {
  const rooms = model.roomList();
  const active = model.activeRoom ?? rooms[0]?.id ?? null;
  const room = active ? model.rooms.get(active) : undefined;
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const log = useRef<HTMLOListElement>(null);

  useEffect(() => {
    if (active && model.activeRoom !== active) void model.openRoom(active);
    return () => model.closeRoom();
  }, [active]);

  useEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [room?.lines.length, active]);

  function send(e: Event) {
    e.preventDefault();
    const t = text.trim();
    if (!t || !active) return;
    if (model.say(active, t)) {
      setText("");
      setError(null);
    } else {
      setError("Not connected: the message was not sent.");
    }
  }

  return (
    <section class="panel chat" aria-labelledby="chat-title">
      <header class="panel-head">
        <h2 id="chat-title">Operator chat</h2>
      </header>
      <div class="chat-layout">
        <nav class="rooms" aria-label="Chat rooms">
          <ul>
            {rooms.map((r) => (
              <li key={r.id}>
                <button
                  type="button"
                  class={r.id === active ? "room current" : "room"}
                  aria-current={r.id === active ? "true" : undefined}
                  onClick={() => void model.openRoom(r.id)}
                >
                  {r.title}
                  {r.unread > 0 && <span class="unread" aria-label={`${r.unread} unread`}>{r.unread}</span>}
                </button>
              </li>
            ))}
          </ul>
          {model.users.length > 0 && (
            <label class="dm-picker">
              Message someone
              <select
                value=""
                onChange={(e) => {
                  const user = e.currentTarget.value;
                  if (user) void model.openRoom(model.dmWith(user));
                }}
              >
                <option value="">choose…</option>
                {model.users.map((u) => (
                  <option key={u} value={u}>
                    {u}
                  </option>
                ))}
              </select>
            </label>
          )}
        </nav>
        <div class="conversation">
          <ol class="messages" ref={log} aria-live="polite" aria-label={room ? `Messages in ${room.title}` : "Messages"}>
            {room?.lines.map((l) => (
              <li key={l.seq} class={l.from === model.me.user ? "mine" : ""}>
                <span class="from">{l.from}</span> <time>{clock(l.at)}</time>
                <p>{l.text}</p>
              </li>
            ))}
            {room && room.loaded && room.lines.length === 0 && <li class="muted">No messages yet.</li>}
          </ol>
          <form class="compose" onSubmit={send}>
            <label class="sr-only" for="chat-input">
              Message
            </label>
            <input
              id="chat-input"
              autoComplete="off"
              maxLength={2000}
              placeholder={room ? `Message ${room.title}` : "Pick a room"}
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
              disabled={!room}
            />
            <button type="submit" class="primary" disabled={!room || !text.trim()}>
              Send
            </button>
          </form>
          {error && (
            <p class="form-error" role="alert">
              {error}
            </p>
          )}
        </div>
      </div>
    </section>
  );
}
