import { useEffect, useRef, useState } from "preact/hooks";
import { CAMERA_OFFLINE, type Alert } from "../alerts";
import { askForNotifications, chime, notificationsSupported, notify, unlockSound } from "../alarm";
import { PushToggle } from "./PushToggle";
import { Tuning } from "./Tuning";
import { api, ApiError, type Me } from "../api";
import { ConsoleModel } from "../model";
import { AlertDetail } from "./AlertDetail";
import { Cameras } from "./Cameras";
import { LiveDialog } from "./Media";
import { Chat } from "./Chat";
import { Feed } from "./Feed";
import { History } from "./History";
import { BellIcon } from "./icons";
import { LinkIndicator } from "./LinkIndicator";
import { Login } from "./Login";
import { Metrics } from "./Metrics";
import { percent } from "./format";
import { useHashRoute, useModel } from "./hooks";

type Session =
  | { kind: "checking" }
  | { kind: "out"; notice?: string }
  /** `afterSeq`: the server's position at sign-in (absent when the page reopened a session). */
  | { kind: "in"; me: Me; afterSeq?: number };

export function App() {
  const [session, setSession] = useState<Session>({ kind: "checking" });

  const check = (afterSeq?: number) =>
    api
      .me()
      .then((me) => setSession({ kind: "in", me, afterSeq }))
      .catch((e: unknown) =>
        setSession({
          kind: "out",
          notice: e instanceof ApiError && e.status !== 401 ? e.message : undefined,
        }),
      );
  useEffect(() => void check(), []);

  if (session.kind === "checking") return <p class="splash">fightwatch…</p>;
  if (session.kind === "out")
    return (
      <Login
        notice={session.notice}
        onLogin={(lastSeq) => {
          unlockSound();
          void check(lastSeq);
        }}
      />
    );
  return (
    <Console
      key={session.me.user}
      me={session.me}
      afterSeq={session.afterSeq}
      signOut={(notice) => setSession({ kind: "out", notice })}
    />
  );
}

const VIEWS = [
  ["live", "Live"],
  ["history", "History"],
  ["chat", "Chat"],
  ["tuning", "Tuning"],
] as const;

/** Views a role sees (tuning names every camera's settings: admins). */
function viewsOf(role: string) {
  return VIEWS.filter(([v]) => v !== "tuning" || role === "admin");
}

function Console({ me, afterSeq, signOut }: { me: Me; afterSeq?: number; signOut: (notice?: string) => void }) {
  const [route, go] = useHashRoute();
  const [toast, setToast] = useState<string | null>(null);
  const [sound, setSound] = useState(() => localStorage.getItem("fightwatch.sound") !== "off");
  const [permission, setPermission] = useState(notificationsSupported() ? Notification.permission : "denied");
  const [flash, setFlash] = useState(0);
  const soundRef = useRef(sound);
  soundRef.current = sound;

  // Routes: #/VIEW, #/VIEW/alert:ID for an alert's detail over that view, #/VIEW/camera:NAME
  // for a camera's live view.
  const [view, arg] = route.split("/", 2) as [string, string | undefined];
  const views = viewsOf(me.role);
  const current = views.some(([v]) => v === view) ? view : "live";
  const openAlert = (id: string) => go(`${current}/alert:${id}`);
  const openCamera = (name: string) => go(`${current}/camera:${encodeURIComponent(name)}`);

  const model = useMemoOnce(
    () =>
      new ConsoleModel(me, {
        onNewAlert: (a: Alert) => {
          setFlash((f) => f + 1);
          if (soundRef.current) chime();
          notify(a, (id) => (window.location.hash = `#/live/alert:${id}`));
          setTimeout(() => {
            model.alerts.markSeen(a.id);
            model.changed();
          }, 8000);
        },
        onEscalated: (a: Alert, level: number) => {
          setFlash((f) => f + 1);
          // Louder than a new alert: the chime twice.
          if (soundRef.current) {
            chime();
            setTimeout(chime, 900);
          }
          setToast(`ESCALATED: the fight on ${a.camera} is not acknowledged (level ${level})`);
          notify(a, (id) => (window.location.hash = `#/live/alert:${id}`), "Escalated: ");
        },
        onServerError: (m) => setToast(m),
        onSignedOut: () => signOut("Your session ended: sign in again."),
      }, { afterSeq }),
  );
  useModel(model);
  useEffect(() => {
    model.start().catch((e: Error) => setToast(`Could not load: ${e.message}`));
    const unlock = () => unlockSound();
    window.addEventListener("pointerdown", unlock);
    window.addEventListener("keydown", unlock);
    return () => {
      model.stop();
      window.removeEventListener("pointerdown", unlock);
      window.removeEventListener("keydown", unlock);
    };
  }, [model]);
  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), 6000);
    return () => clearTimeout(t);
  }, [toast]);

  const detailId = arg?.startsWith("alert:") ? arg.slice("alert:".length) : null;
  const liveCamera = arg?.startsWith("camera:") ? safeDecode(arg.slice("camera:".length)) : null;
  const alerts = model.alerts.list();
  const active = alerts.filter((a) => a.status === "active");
  const newest = active[0];
  const unread = [...model.rooms.values()].reduce((n, r) => n + r.unread, 0);

  async function logout() {
    model.stop();
    await api.logout().catch(() => {});
    signOut();
  }

  return (
    <div class="console">
      {flash > 0 && <div class="flash-overlay" key={flash} aria-hidden="true" />}
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <h1 class="brand">
          <span class="brand-dot" aria-hidden="true" /> fightwatch
        </h1>
        <nav class="tabs" aria-label="Views">
          {views.map(([v, label]) => (
            <a key={v} href={`#/${v}`} class={current === v ? "tab current" : "tab"} aria-current={current === v ? "page" : undefined}>
              {label}
              {v === "chat" && unread > 0 && <span class="unread">{unread}</span>}
            </a>
          ))}
        </nav>
        <LinkIndicator model={model} />
        <div class="tools">
          <button
            type="button"
            class="icon"
            aria-pressed={sound}
            title={sound ? "Sound on" : "Sound off"}
            onClick={() => {
              unlockSound();
              localStorage.setItem("fightwatch.sound", sound ? "off" : "on");
              setSound(!sound);
            }}
          >
            <BellIcon muted={!sound} />
            <span class="sr-only">{sound ? "Mute alert sound" : "Turn alert sound on"}</span>
          </button>
          {notificationsSupported() && permission === "default" && (
            <button type="button" onClick={() => void askForNotifications().then((p) => p !== "unsupported" && setPermission(p))}>
              Enable notifications
            </button>
          )}
          <PushToggle onMessage={setToast} />
          <span class="user" title={`role: ${me.role}`}>
            {me.user} <span class="muted">({me.role})</span>
          </span>
          <button type="button" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </header>
      {newest && (
        <div class="banner" role="alert">
          <strong>{newest.label === CAMERA_OFFLINE ? "CAMERA OFFLINE" : "FIGHT"}</strong> on {newest.camera} ({newest.site})
          {newest.label !== CAMERA_OFFLINE && <>, {percent(newest.peakScore)}</>}
          {active.length > 1 && <span> · {active.length} active alerts</span>}
          <button type="button" onClick={() => openAlert(newest.id)}>
            View
          </button>
        </div>
      )}
      <main id="main" class={`view view-${current}`}>
        {current === "live" && (
          <>
            <Feed model={model} open={openAlert} />
            <div class="side">
              <Cameras model={model} open={openCamera} />
              <Metrics model={model} />
            </div>
          </>
        )}
        {current === "history" && <History model={model} open={openAlert} />}
        {current === "chat" && <Chat model={model} />}
        {current === "tuning" && <Tuning />}
      </main>
      {detailId && <AlertDetail key={detailId} model={model} id={detailId} close={() => go(current)} />}
      {liveCamera && <LiveDialog key={liveCamera} camera={liveCamera} close={() => go(current)} />}
      {toast && (
        <div class="toast" role="status">
          {toast}
          <button type="button" class="icon" aria-label="Dismiss" onClick={() => setToast(null)}>
            ✕
          </button>
        </div>
      )}
    </div>
  );
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function useMemoOnce<T>(make: () => T): T {
  const ref = useRef<T | null>(null);
  ref.current ??= make();
  return ref.current;
}
