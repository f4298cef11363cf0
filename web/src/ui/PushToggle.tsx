// "Phone alerts": subscribes this device to Web Push, so it rings for a new or escalated alert
// while the console is closed. Shown only where the browser can and the server has [push] on.

import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { disablePush, enablePush, pushEnabled, pushSupported } from "../push";

export function PushToggle({ onMessage }: { onMessage: (m: string) => void }) {
  const [available, setAvailable] = useState(false);
  const [on, setOn] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!pushSupported()) return;
    api
      .pushInfo()
      .then((info) => setAvailable(info.enabled))
      .catch(() => setAvailable(false));
    pushEnabled()
      .then(setOn)
      .catch(() => setOn(false));
  }, []);

  if (!available) return null;

  async function toggle() {
    setBusy(true);
    try {
      if (on) {
        await disablePush();
        setOn(false);
        onMessage("This device no longer gets alerts while the console is closed.");
      } else {
        const result = await enablePush();
        if (result === "on") {
          setOn(true);
          onMessage("This device now rings for new and escalated alerts, even with the console closed.");
        } else if (result === "denied") {
          onMessage("Notifications are blocked for this site: allow them in the browser's settings.");
        } else {
          onMessage("Web Push is not configured on this server ([push] in its config).");
        }
      }
    } catch (e) {
      onMessage(`Device alerts: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <button type="button" aria-pressed={on} disabled={busy} onClick={() => void toggle()} title="Alerts on this device while the console is closed">
      {on ? "Device alerts on" : "Alerts on this device"}
    </button>
  );
}
