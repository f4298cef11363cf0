/** Reconnect delays: exponential growth from `baseMs` up to `maxMs`, with "equal jitter"
 * (each delay is between half and all of the exponential step) so a room full of consoles
 * that lost the same server does not come back in lockstep. */
export class Backoff {
  private attempt = 0;

  constructor(
    readonly baseMs = 500,
    readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next try. */
  next(): number {
    const step = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  /**
   * The delay before the next try after the server itself went away (restart, failover):
   * every console saw the same close at the same instant, so the usual delay is spread over
   * a further `spreadMs` at random, or they would all come back within the same half second.
   */
  nextAfterServerLeft(spreadMs = 3_000): number {
    return this.next() + Math.round(this.random() * spreadMs);
  }

  /** After a connection that worked: start again from the base delay. */
  reset(): void {
    this.attempt = 0;
  }
}
