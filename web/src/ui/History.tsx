import { useEffect, useState } from "preact/hooks";
import { fromRecord, type Alert } from "../alerts";
import { api, type AlertQuery } from "../api";
import type { ConsoleModel } from "../model";
import { dateTime, percent } from "./format";
import { StatusBadge } from "./Feed";

const PAGE = 25;

/** Alert history from REST: filters by camera, status and day; pages by seq. */
export function History({ model, open }: { model: ConsoleModel; open: (id: string) => void }) {
  const [camera, setCamera] = useState("");
  const [status, setStatus] = useState("");
  const [day, setDay] = useState("");
  // cursors[i] is the before_seq of page i (undefined: the newest page).
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  const [rows, setRows] = useState<Alert[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const page = cursors.length - 1;

  useEffect(() => {
    const q: AlertQuery = { camera: camera || undefined, status: status || undefined, limit: PAGE + 1 };
    if (day) {
      const start = new Date(`${day}T00:00:00`);
      const end = new Date(start);
      end.setDate(end.getDate() + 1);
      q.since = start.getTime();
      q.until = end.getTime();
    }
    q.beforeSeq = cursors[page];
    setRows(null);
    setError(null);
    api
      .alerts(q)
      .then((list) => setRows(list.map(fromRecord)))
      .catch((e: Error) => setError(e.message));
  }, [camera, status, day, cursors, model.alerts.size]);

  const filterChanged = (set: (v: string) => void) => (e: Event) => {
    set((e.currentTarget as HTMLInputElement | HTMLSelectElement).value);
    setCursors([undefined]);
  };
  const shown = rows?.slice(0, PAGE) ?? [];
  const hasOlder = (rows?.length ?? 0) > PAGE;

  return (
    <section class="panel history" aria-labelledby="history-title">
      <header class="panel-head">
        <h2 id="history-title">History</h2>
      </header>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Camera
          <select name="camera" value={camera} onChange={filterChanged(setCamera)}>
            <option value="">all</option>
            {[...model.cameras.keys()].sort().map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status" value={status} onChange={filterChanged(setStatus)}>
            <option value="">all</option>
            <option value="active">active</option>
            <option value="ended">ended</option>
            <option value="acknowledged">acknowledged</option>
            <option value="resolved">resolved</option>
          </select>
        </label>
        <label>
          Day
          <input name="day" type="date" value={day} onChange={filterChanged(setDay)} />
        </label>
      </form>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <div class="table-wrap">
        <table class="history-table">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Camera</th>
              <th scope="col">Site</th>
              <th scope="col">Peak</th>
              <th scope="col">Status</th>
              <th scope="col">Acknowledged by</th>
              <th scope="col">Note</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((a) => (
              <tr key={a.id} data-alert-id={a.id}>
                <td>
                  <button type="button" class="link-button" onClick={() => open(a.id)}>
                    {dateTime(a.startedAt)}
                  </button>
                </td>
                <td>{a.camera}</td>
                <td>{a.site}</td>
                <td>{percent(a.peakScore)}</td>
                <td>
                  <StatusBadge status={a.status} />
                  {a.outcome && <span class="outcome-tag"> {a.outcome.replace("_", " ")}{a.reason ? `: ${a.reason.replace("_", " ")}` : ""}</span>}
                </td>
                <td>{a.ackedBy ?? "—"}</td>
                <td class="note">{a.note ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {rows !== null && shown.length === 0 && <p class="empty">No alerts match.</p>}
        {rows === null && !error && <p class="muted">Loading…</p>}
      </div>
      <nav class="pager" aria-label="History pages">
        <button type="button" disabled={page === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <span class="muted">page {page + 1}</span>
        <button
          type="button"
          disabled={!hasOlder}
          onClick={() => setCursors([...cursors, shown[shown.length - 1]?.seq])}
        >
          Older →
        </button>
      </nav>
    </section>
  );
}
