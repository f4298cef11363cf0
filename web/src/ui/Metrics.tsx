import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { ConsoleModel } from "../model";

const clockShort = (ms: number) =>
  new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

const PALETTE = ["#4cc2ff", "#ffb224", "#3dd68c", "#f76b15", "#b18cff", "#ff5c8a", "#29d3c5", "#e5e5e5"];
const AXIS = { stroke: "#9aa4b2", grid: { stroke: "#2a313c", width: 1 }, ticks: { stroke: "#2a313c" } };

type Pick = (model: ConsoleModel) => { names: string[]; data: uPlot.AlignedData };

/** Live charts from `metric_update`: fps and inference time per camera, clients and CPU. */
export function Metrics({ model }: { model: ConsoleModel }) {
  const m = model.latestMetrics;
  return (
    <section class="panel metrics" aria-labelledby="metrics-title">
      <header class="panel-head">
        <h2 id="metrics-title">Metrics</h2>
        {m && (
          <span class="muted">
            {m.clients} consoles · CPU {m.cpu_percent.toFixed(0)}% · {(m.rss_bytes / 2 ** 20).toFixed(0)} MiB
          </span>
        )}
      </header>
      {!m ? (
        <p class="empty">Waiting for the first metric_update (sent every second by a server with cameras).</p>
      ) : (
        <div class="charts">
          <Chart model={model} title="Capture fps per camera" unit="fps" pick={perCamera("fps")} />
          <Chart model={model} title="Inference time per camera" unit="ms" pick={perCamera("ms")} />
          <Chart
            model={model}
            title="Consoles and CPU"
            unit=""
            pick={(mm) => ({
              names: ["consoles", "CPU %"],
              data: [mm.metrics.at, mm.metrics.clients, mm.metrics.cpu],
            })}
          />
        </div>
      )}
    </section>
  );
}

function perCamera(key: "fps" | "ms"): Pick {
  return (model) => {
    const names = [...model.metrics.cameras.keys()];
    return {
      names,
      data: [model.metrics.at, ...names.map((n) => model.metrics.cameras.get(n)?.[key] ?? [])] as uPlot.AlignedData,
    };
  };
}

function Chart({ model, title, unit, pick }: { model: ConsoleModel; title: string; unit: string; pick: Pick }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const names = useRef<string>("");

  // Rebuilt when the set of series changes, otherwise only fed new data.
  useEffect(() => {
    const render = () => {
      const el = box.current;
      if (!el) return;
      const { names: series, data } = pick(model);
      const key = series.join("\u0000");
      if (plot.current && key === names.current) {
        plot.current.setData(data);
        return;
      }
      plot.current?.destroy();
      names.current = key;
      plot.current = new uPlot(
        {
          width: Math.max(200, el.clientWidth),
          height: 160,
          legend: { show: true },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [
            {
              ...AXIS,
              // Whole seconds as wall-clock times: the charts cover minutes, not milliseconds.
              space: 90,
              incrs: [1, 5, 10, 15, 30, 60, 120, 300],
              values: (_u: uPlot, splits: number[]) => splits.map((v) => clockShort(v * 1000)),
            },
            { ...AXIS, label: unit, size: 50 },
          ],
          series: [
            {},
            ...series.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false })),
          ],
        },
        data,
        el,
      );
    };
    render();
    const unsubscribe = model.subscribe(render);
    const resize = new ResizeObserver(() => {
      const el = box.current;
      if (el && plot.current) plot.current.setSize({ width: Math.max(200, el.clientWidth), height: 160 });
    });
    if (box.current) resize.observe(box.current);
    return () => {
      unsubscribe();
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [model]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${title}, last three minutes`} />
    </figure>
  );
}
