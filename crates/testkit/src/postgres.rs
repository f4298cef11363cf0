//! A throw-away PostgreSQL server.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::process::{free_port, is_root, run, tail, wait_ready};

/// A PostgreSQL server of its own: `initdb` in a temp dir, `postgres` on a free loopback port,
/// trust authentication for the user `fightwatch`, durability switched off (tests, not data).
/// Dropping it stops the server and deletes everything.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// Settings the server starts with besides the usual ones (TLS).
    settings: Vec<String>,
}

impl Postgres {
    /// Creates and starts a server.
    pub fn start() -> anyhow::Result<Self> {
        let mut server = Self::create()?;
        server.launch()?;
        Ok(server)
    }

    /// Creates and starts a server with TLS on (`ssl=on`, `certs`' server certificate and key).
    /// Plaintext connections are still accepted: whether a client insists on TLS is the
    /// client's to show.
    pub fn start_tls(certs: &crate::TestCerts) -> anyhow::Result<Self> {
        let mut server = Self::create()?;
        let (cert, key) = (
            server.dir.path().join("server.crt"),
            server.dir.path().join("server.key"),
        );
        std::fs::copy(certs.cert_file(), &cert)?;
        std::fs::copy(certs.key_file(), &key)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        if is_root() {
            let (uid, gid) = postgres_ids()?;
            for file in [&cert, &key] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid))?;
            }
        }
        server.settings = vec![
            "ssl=on".into(),
            format!("ssl_cert_file={}", path(&cert)?),
            format!("ssl_key_file={}", path(&key)?),
        ];
        server.launch()?;
        Ok(server)
    }

    /// `initdb` in a temp dir.
    fn create() -> anyhow::Result<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("fw-pg-").tempdir()?;
        if is_root() {
            // The postgres user must own its data directory (and reach it).
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("giving the temp dir to the postgres user")?;
        }
        let data = dir.path().join("data");
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb.args([
            "-D",
            path(&data)?,
            "-U",
            "fightwatch",
            "-A",
            "trust",
            "-E",
            "UTF8",
        ]);
        initdb.args(["--no-sync", "--no-instructions"]);
        run(&mut initdb).context("initdb")?;
        Ok(Self {
            bin,
            dir,
            port: 0,
            child: None,
            settings: Vec::new(),
        })
    }

    /// `postgres://fightwatch@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://fightwatch@127.0.0.1:{}/{database}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""))?;
        Ok(self.url(name))
    }

    /// Runs SQL through `psql` and returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        run(Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "fightwatch",
            ])
            .args(["-d", database, "-c", sql]))
    }

    /// Stops the server the way a crash would (`pg_ctl stop -m immediate`: no shutdown
    /// checkpoint; committed data survives through the WAL).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.stop_with("immediate")
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            self.stop_with("fast")?;
        }
        self.launch()
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let data = self.dir.path().join("data");
        let log_path = self.dir.path().join("postgres.log");
        let mut tries = 0;
        loop {
            let port = if self.port == 0 {
                free_port()?
            } else {
                self.port
            };
            let log = File::options().create(true).append(true).open(&log_path)?;
            let mut cmd = as_postgres(&self.bin.join("postgres"));
            cmd.args(["-D", path(&data)?, "-p", &port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                .args([
                    "-c",
                    &format!("unix_socket_directories={}", path(self.dir.path())?),
                ])
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
                .args(["-c", "max_connections=300"])
                .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log);
            let mut child = cmd.spawn().context("starting postgres")?;
            let isready = self.bin.join("pg_isready");
            let ready = wait_ready(
                "postgres",
                &mut child,
                &log_path,
                Duration::from_secs(60),
                || {
                    Command::new(&isready)
                        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                        .status()
                        .is_ok_and(|s| s.success())
                },
            );
            match ready {
                Ok(()) => {
                    self.port = port;
                    self.child = Some(child);
                    return Ok(());
                }
                // Lost the port to someone else between choosing and binding: another port.
                Err(_) if self.port == 0 && tries < 3 && tail(&log_path).contains("in use") => {
                    let _ = child.wait();
                    tries += 1;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
        }
    }

    fn stop_with(&mut self, mode: &str) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let data = self.dir.path().join("data");
        let stopped = run(as_postgres(&self.bin.join("pg_ctl")).args([
            "stop",
            "-D",
            path(&data)?,
            "-m",
            mode,
            "-w",
        ]));
        if stopped.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        stopped.map(drop)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop_with("immediate");
    }
}

/// The newest /usr/lib/postgresql/N/bin (Debian's layout), or the folder of `initdb` on PATH.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run scripts/setup.sh"
    )
}

/// A command that runs `program` as the postgres user when we are root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        run(Command::new("id").args([flag, "postgres"]))
            .context("the postgres user (created by Debian's postgresql package)")?
            .trim()
            .parse()
            .context("parsing id's output")
    };
    Ok((id("-u")?, id("-g")?))
}

fn path(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("a non-UTF-8 temp path")
}
