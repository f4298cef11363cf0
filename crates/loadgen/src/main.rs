//! WebSocket load and latency client for the fightwatch broadcaster.
//!
//! It will connect N dashboards to a running fightwatch, publish K `fight_detected` messages and
//! report connect time, delivery latency percentiles, throughput and missing deliveries. It is
//! built together with the broadcaster (issue #6); until then it says so and exits non-zero
//! instead of pretending to measure anything.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("fightwatch-loadgen is not built yet: it arrives with the broadcaster (issue #6)")
}
