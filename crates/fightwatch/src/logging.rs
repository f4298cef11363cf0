//! `tracing` set-up: RUST_LOG wins; otherwise `-v`/`-q` pick the level.
//!
//! `FIGHTWATCH_SPAN_TIMES=1` also logs each stage span as it closes with the time it took
//! (`model_run`, `snapshot_jpeg`, `alert_stage`; debug level, so with `-v` or
//! `RUST_LOG=debug`): docs/performance.md "Frame to dashboard" reads its breakdown from them.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the stderr subscriber.
pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // tungstenite's debug and trace lines print whole WebSocket frames: a Socket.IO handshake's
    // token, chat text. Only someone who names it gets them.
    if !asked.contains("tungstenite")
        && let Ok(quiet) = "tungstenite=info".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let spans = if std::env::var_os("FIGHTWATCH_SPAN_TIMES").is_some_and(|v| v == "1") {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
