//! Helpers of the cluster end-to-end tests: fightwatch nodes as child processes on one
//! PostgreSQL and one Redis (fightwatch_testkit), and tokens from the shared database.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The token secret every node of a test shares.
pub const SECRET: &str = "cluster e2e secret of 32+ bytes!!";

/// A node process; killed (and reaped) when dropped.
pub struct Node {
    pub name: String,
    pub port: u16,
    pub child: Child,
    pub _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `command` (a fightwatch command line) run with the cluster's servers and secret in its
/// environment, quiet.
pub fn spawn(
    mut command: Command,
    name: &str,
    port: u16,
    dir: tempfile::TempDir,
    db: &str,
    redis: &str,
) -> Node {
    let child = command
        .env("FIGHTWATCH_DATABASE_URL", db)
        .env("FIGHTWATCH_REDIS_URL", redis)
        .env("FIGHTWATCH_JWT_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Node {
        name: name.into(),
        port,
        child,
        _dir: dir,
    }
}

/// `fightwatch serve` as node `name`.
pub fn serve(name: &str, db: &str, redis: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = super::free_port();
    let mut command = super::command(&["serve", "--node", name]);
    command
        .args(["--bind", &format!("127.0.0.1:{port}")])
        // The tests' bursts are many detectors' worth (docs/security.md's defaults are not).
        .args([
            "--detection-rate",
            "1000",
            "--new-cameras-per-detector",
            "100000",
        ])
        .arg("--data-dir")
        .arg(dir.path());
    spawn(command, name, port, dir, db, redis)
}

/// Waits until the node accepts connections (60 s at most).
pub fn wait_listening(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "node {} did not start",
            node.name
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A token of `user` with `role`, its session in the shared database.
pub fn token(db: &str, user: &str, role: &str) -> String {
    let out = super::command(&["token", "--user", user, "--role", role])
        .args(["--data-dir", "/nonexistent-cluster-data"])
        .env("FIGHTWATCH_DATABASE_URL", db)
        .env("FIGHTWATCH_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", super::text(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
