// Making a new alert impossible to miss: a two-tone chime (Web Audio, no file to load) and a
// desktop notification when the operator allowed them.

import type { Alert } from "./alerts";

let audio: AudioContext | null = null;

/** Browsers only allow sound after a user gesture: call this from one (login, a click). */
export function unlockSound(): void {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") void audio.resume();
  } catch {
    audio = null; // No Web Audio here: alerts stay visual.
  }
}

export function chime(): void {
  if (!audio || audio.state !== "running") return;
  const t0 = audio.currentTime;
  for (const [i, freq] of [880, 660, 880, 660].entries()) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    const start = t0 + i * 0.18;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.17);
  }
}

export function notificationsSupported(): boolean {
  return typeof Notification !== "undefined";
}

export async function askForNotifications(): Promise<NotificationPermission | "unsupported"> {
  if (!notificationsSupported()) return "unsupported";
  return Notification.permission === "default" ? Notification.requestPermission() : Notification.permission;
}

/** Raises a desktop notification for `a` when allowed; clicking it opens the alert. */
export function notify(a: Alert, open: (id: string) => void, prefix = ""): void {
  if (!notificationsSupported() || Notification.permission !== "granted") return;
  let n: Notification;
  try {
    const what = a.label === "camera_offline" ? "Camera offline:" : "Fight on";
    n = new Notification(`${prefix}${what} ${a.camera} (${a.site})`, {
      body: `score ${(a.score * 100).toFixed(0)}% at ${new Date(a.startedAt).toLocaleTimeString()}`,
      icon: a.snapshotUrl ?? undefined,
      // An escalation has its own tag: it does not silently replace the first notification.
      tag: prefix ? `${a.id}-escalated` : a.id,
      requireInteraction: true,
    });
  } catch (e) {
    // Some browsers only allow notifications from a service worker: the feed still flashes.
    console.warn("fightwatch: no desktop notification:", e);
    return;
  }
  n.onclick = () => {
    window.focus();
    open(a.id);
    n.close();
  };
}
