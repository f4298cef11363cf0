/// This process's CPU use between samples and its resident memory, from /proc.
#[derive(Debug, Default)]
pub struct ProcessSampler {
    last: Option<(std::time::Instant, u64)>,
}

impl ProcessSampler {
    /// (CPU percent of one core since the last sample, RSS bytes); zeros where /proc cannot
    /// be read.
    pub fn sample(&mut self) -> (f64, u64) {
        // Linux reports CPU time in clock ticks of 1/100 s on every mainstream configuration.
        const TICKS_PER_S: f64 = 100.0;
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let ticks = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        let now = std::time::Instant::now();
        let cpu = match self.last {
            Some((t, prev)) => {
                (ticks.saturating_sub(prev) as f64 / TICKS_PER_S)
                    / now.duration_since(t).as_secs_f64().max(1e-3)
                    * 100.0
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        let rss_kib = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        (cpu, rss_kib * 1024)
    }
}
