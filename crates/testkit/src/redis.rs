//! A throw-away Redis server.

use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::process::{free_port, wait_ready};

/// A Redis server of its own on a free loopback port, no persistence (a restart loses
/// everything, the hardest case for its clients). Dropping it kills it.
pub struct Redis {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts a server.
    pub fn start() -> anyhow::Result<Self> {
        let mut server = Self {
            dir: tempfile::Builder::new().prefix("fw-redis-").tempdir()?,
            port: free_port()?,
            child: None,
        };
        server.launch()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `XADD STREAM * FIELDS…` through `redis-cli`, as anyone who can reach the server could
    /// write (a forged or stray entry).
    pub fn xadd(&self, stream: &str, fields: &[&str]) -> anyhow::Result<()> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "XADD", stream, "*"])
            .args(fields)
            .output()
            .context("running redis-cli")?;
        anyhow::ensure!(out.status.success(), "redis-cli XADD failed: {out:?}");
        Ok(())
    }

    /// `GET KEY` through `redis-cli`: the value, `None` when the key does not exist.
    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--no-raw", "GET", key])
            .output()
            .context("running redis-cli")?;
        anyhow::ensure!(out.status.success(), "redis-cli GET failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // --no-raw quotes a value and says (nil) for none, so an empty value is not a missing one.
        Ok(match text.as_str() {
            "(nil)" => None,
            quoted => Some(quoted.trim_matches('"').to_string()),
        })
    }

    /// Kills it (SIGKILL: everything in memory is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch()
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let log_path = self.dir.path().join("redis.log");
        let log = File::options().create(true).append(true).open(&log_path)?;
        let port = self.port.to_string();
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting redis-server (scripts/setup.sh installs it)")?;
        wait_ready(
            "redis-server",
            &mut child,
            &log_path,
            Duration::from_secs(30),
            || {
                Command::new("redis-cli")
                    .args(["-p", &port, "ping"])
                    .output()
                    .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
            },
        )?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
