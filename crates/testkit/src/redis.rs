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
    /// TLS only: the server's options, and `redis-cli`'s to reach it.
    tls: Option<(Vec<String>, Vec<String>)>,
}

impl Redis {
    /// Starts a server.
    pub fn start() -> anyhow::Result<Self> {
        let mut server = Self {
            dir: tempfile::Builder::new().prefix("fw-redis-").tempdir()?,
            port: free_port()?,
            child: None,
            tls: None,
        };
        server.launch()?;
        Ok(server)
    }

    /// Starts a server that speaks TLS only (`--tls-port`, no plaintext port), with `certs`'
    /// server certificate; clients are not asked for certificates of their own.
    pub fn start_tls(certs: &crate::TestCerts) -> anyhow::Result<Self> {
        let file = |p: std::path::PathBuf| p.display().to_string();
        let server = vec![
            "--tls-cert-file".into(),
            file(certs.cert_file()),
            "--tls-key-file".into(),
            file(certs.key_file()),
            "--tls-ca-cert-file".into(),
            file(certs.ca_file()),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        let cli = vec!["--tls".into(), "--cacert".into(), file(certs.ca_file())];
        let mut server = Self {
            dir: tempfile::Builder::new().prefix("fw-redis-").tempdir()?,
            port: free_port()?,
            child: None,
            tls: Some((server, cli)),
        };
        server.launch()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT/`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// `redis-cli` pointed at this server.
    fn cli(&self) -> Command {
        let mut cli = Command::new("redis-cli");
        cli.args(["-p", &self.port.to_string()]);
        if let Some((_, args)) = &self.tls {
            cli.args(args);
        }
        cli
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `XADD STREAM * FIELDS…` through `redis-cli`, as anyone who can reach the server could
    /// write (a forged or stray entry).
    pub fn xadd(&self, stream: &str, fields: &[&str]) -> anyhow::Result<()> {
        let out = self
            .cli()
            .args(["XADD", stream, "*"])
            .args(fields)
            .output()
            .context("running redis-cli")?;
        anyhow::ensure!(out.status.success(), "redis-cli XADD failed: {out:?}");
        Ok(())
    }

    /// `GET KEY` through `redis-cli`: the value, `None` when the key does not exist.
    pub fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let out = self
            .cli()
            .args(["--no-raw", "GET", key])
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
        let (plain_port, tls_args) = match &self.tls {
            Some((server, _)) => ("0", {
                let mut args = vec!["--tls-port".to_string(), port.clone()];
                args.extend(server.iter().cloned());
                args
            }),
            None => (port.as_str(), Vec::new()),
        };
        let mut child = Command::new("redis-server")
            .args(["--port", plain_port])
            .args(&tls_args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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
                self.cli()
                    .arg("ping")
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
