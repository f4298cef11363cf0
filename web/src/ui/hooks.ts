import { useEffect, useState } from "preact/hooks";
import type { ConsoleModel } from "../model";

/** Re-renders the caller whenever the model changes. */
export function useModel(model: ConsoleModel): number {
  const [revision, setRevision] = useState(model.revision);
  useEffect(() => model.subscribe(() => setRevision(model.revision)), [model]);
  return revision;
}

/** A counter that ticks every `ms` (for "12 s ago" labels and thumbnail refresh). */
export function useTick(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setTick((t) => t + 1), ms);
    return () => clearInterval(id);
  }, [ms]);
  return tick;
}

/** The part of `location.hash` after `#/`, kept in state. */
export function useHashRoute(): [string, (r: string) => void] {
  const read = () => window.location.hash.replace(/^#\/?/, "");
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return [route, (r: string) => (window.location.hash = `#/${r}`)];
}
