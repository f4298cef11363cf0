// Tuning (admins): what `fightwatch tune` proposed from the operators' verdicts, per camera,
// with its trade-off plot. The proposals are computed where the model runs and applied there
// (`fightwatch tune -c CONFIG --apply`, then a restart): this page shows them.

import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "../api";
import { outcome, setting, type TuneReport } from "../tuning";
import { dateTime } from "./format";

export function Tuning() {
  const [report, setReport] = useState<TuneReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api
      .tune()
      .then(setReport)
      .catch((e: Error) => setError(e instanceof ApiError && e.status === 404 ? "none" : e.message));
  }, []);

  if (error === "none") {
    return (
      <section class="tuning" aria-label="Tuning">
        <h2>Tuning</h2>
        <p>
          No tuning report yet. Resolve alerts as <em>confirmed</em> or <em>false alarm</em>, then run{" "}
          <code>fightwatch tune -c fightwatch.toml</code> where the model runs: it proposes per-camera thresholds that
          keep every confirmed fight and drop false alarms, and this page shows them.
        </p>
      </section>
    );
  }
  if (error) return <p class="form-error">Tuning report: {error}</p>;
  if (!report) return <p class="muted">Loading the tuning report…</p>;
  const changed = report.proposals.filter((p) => p.changed).length;
  return (
    <section class="tuning" aria-label="Tuning">
      <h2>Tuning</h2>
      <p class="muted">
        From {report.samples} verdicts with clips ({report.tests} tests, {report.without_clip} without a clip), made{" "}
        {dateTime(report.generated_at)}. {changed === 0 ? "No camera needs a change." : `${changed} camera(s) would change`}
        {report.applied ? " and were written into the config." : changed > 0 ? ":" : "."}
        {changed > 0 && !report.applied && (
          <>
            {" "}
            apply with <code>fightwatch tune -c fightwatch.toml --apply</code> and restart.
          </>
        )}
      </p>
      <table class="tuning-table">
        <thead>
          <tr>
            <th scope="col">Camera</th>
            <th scope="col">Now</th>
            <th scope="col">Proposed</th>
          </tr>
        </thead>
        <tbody>
          {report.proposals.map((p) => (
            <tr key={p.camera} class={p.changed ? "changed" : undefined}>
              <th scope="row">{p.camera}</th>
              <td>
                {setting(p.current)}
                <div class="muted">{outcome(p.current, p)}</div>
              </td>
              <td>
                {p.changed ? setting(p.proposed) : "no change"}
                {p.changed && <div class="muted">{outcome(p.proposed, p)}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="tuning-plots">
        {report.proposals.map((p) => (
          <figure key={p.camera}>
            <img src={`/api/tune/${encodeURIComponent(p.plot)}`} alt={`Trade-off for ${p.camera}: alerts raised per start threshold`} loading="lazy" />
            <figcaption>{p.camera}</figcaption>
          </figure>
        ))}
      </div>
    </section>
  );
}
