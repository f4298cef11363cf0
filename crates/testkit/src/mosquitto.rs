//! A throw-away MQTT broker (Debian's mosquitto).

use std::fs::File;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::process::{free_port, is_root, wait_ready};

/// A mosquitto broker of its own on a free loopback port, anonymous, no persistence (a restart
/// forgets retained messages and sessions: its clients must publish them again). Dropping it
/// kills it.
pub struct Mosquitto {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// TLS only: the listener's certificate lines.
    tls: Option<String>,
}

impl Mosquitto {
    /// Starts a broker.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// Starts a broker whose only listener speaks TLS, with `certs`' server certificate.
    pub fn start_tls(certs: &crate::TestCerts) -> anyhow::Result<Self> {
        Self::start_with(Some(format!(
            "cafile {}\ncertfile {}\nkeyfile {}\n",
            certs.ca_file().display(),
            certs.cert_file().display(),
            certs.key_file().display()
        )))
    }

    fn start_with(tls: Option<String>) -> anyhow::Result<Self> {
        let mut broker = Self {
            dir: tempfile::Builder::new().prefix("fw-mqtt-").tempdir()?,
            port: free_port()?,
            child: None,
            tls,
        };
        broker.launch()?;
        Ok(broker)
    }

    /// `mqtt://127.0.0.1:PORT`, or `mqtts://…` for a TLS broker.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "mqtts" } else { "mqtt" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (SIGKILL).
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
        let conf = self.dir.path().join("mosquitto.conf");
        // As root mosquitto would switch to its own user; staying root keeps the temp dir
        // readable and changes nothing else for a loopback test broker.
        let user = if is_root() { "user root\n" } else { "" };
        let tls = self.tls.as_deref().unwrap_or("");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\n{tls}allow_anonymous true\npersistence false\nlog_dest stderr\n{user}",
                self.port
            ),
        )?;
        let log_path = self.dir.path().join("mosquitto.log");
        let log = File::options().create(true).append(true).open(&log_path)?;
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting mosquitto (scripts/setup.sh installs it)")?;
        let port = self.port;
        wait_ready(
            "mosquitto",
            &mut child,
            &log_path,
            Duration::from_secs(30),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        )?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
