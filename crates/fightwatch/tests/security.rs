//! The binary's part of the security audit: the JWT secret, file permissions, and memory under
//! an unauthenticated login flood, each against the real `fightwatch serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fightwatch, free_port, text};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn serve(data: &Path, port: u16, secret: Option<&str>) -> Command {
    let mut cmd = common::command(&[]);
    cmd.args([
        "serve",
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(data)
    .env_remove("FIGHTWATCH_JWT_SECRET");
    if let Some(s) = secret {
        cmd.env("FIGHTWATCH_JWT_SECRET", s);
    }
    cmd
}

/// Waits for `/healthz` (the child must not exit first).
fn wait_ready(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        assert!(
            child.try_wait().unwrap().is_none(),
            "fightwatch serve exited early"
        );
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && common::http_get(port, "/healthz", "").0 == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fightwatch serve did not become ready");
}

/// Finding 1: an empty or short secret (file or environment) is refused with a clear error,
/// never used; a new one is 32 bytes from the system's random source, in a private file.
#[test]
fn weak_jwt_secrets_are_refused_and_new_ones_are_random_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(data.join("jwt_secret"), "").unwrap();
    let out = serve(&data, free_port(), None).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("jwt_secret") && err.contains("at least 32"),
        "{err}"
    );
    let out = serve(&data, free_port(), Some("sixteen chars ok"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("FIGHTWATCH_JWT_SECRET has 16 bytes"));

    // Two data directories made in the same instant get unrelated secrets.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mint = |d: &Path| {
        common::command(&[])
            .args(["token", "--user", "ops", "--role", "viewer", "--data-dir"])
            .arg(d)
            .env_remove("FIGHTWATCH_JWT_SECRET")
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut x, mut y) = (mint(&a), mint(&b));
    assert!(x.wait().unwrap().success() && y.wait().unwrap().success());
    let (sa, sb) = (
        std::fs::read_to_string(a.join("jwt_secret")).unwrap(),
        std::fs::read_to_string(b.join("jwt_secret")).unwrap(),
    );
    assert_eq!(sa.len(), 64);
    assert!(sa.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(sa, sb);
    assert_eq!(mode(&a.join("jwt_secret")), 0o600);
}

/// Finding 12: the data directory is created 0700 and the database 0600; a directory that
/// others can read gets a warning.
#[test]
fn the_data_directory_and_database_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mint = || {
        fightwatch(&[
            "token",
            "--user",
            "ops",
            "--role",
            "viewer",
            "--data-dir",
            data.to_str().unwrap(),
        ])
    };
    let out = mint();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("fightwatch.db")), 0o600);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("fightwatch.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = mint();
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("other users can read it"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(mode(&data.join("fightwatch.db")), 0o600, "narrowed");
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Finding 2: 48 concurrent wrong logins from 48 addresses (so per-address limits do not
/// stop them and the hashing gate must) leave the server's peak memory within 100 MB of where
/// it started, and `/healthz` answering.
#[test]
fn a_login_flood_does_not_exhaust_memory() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = serve(
        &dir.path().join("data"),
        port,
        Some("a test secret of more than 32 bytes"),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_ready(&mut child, port);
    let pid = child.id();
    let before = status_kib(pid, "VmRSS:");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (statuses, healthy) = rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let deadline = Instant::now() + Duration::from_secs(4);
        let attackers: Vec<_> = (0..48u8)
            .map(|i| {
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    while Instant::now() < deadline {
                        let socket = tokio::net::TcpSocket::new_v4().unwrap();
                        socket.bind(([127, 0, 1, 10 + i], 0).into()).unwrap();
                        let Ok(mut s) = socket.connect(([127, 0, 0, 1], port).into()).await else {
                            continue;
                        };
                        let body = format!(r#"{{"user":"admin","password":"guess {i}"}}"#);
                        let req = format!("POST /api/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                        let _ = s.write_all(req.as_bytes()).await;
                        let mut raw = Vec::new();
                        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
                        statuses.push(String::from_utf8_lossy(&raw).split_whitespace().nth(1).unwrap_or("none").to_string());
                    }
                    statuses
                })
            })
            .collect();
        let mut healthy = 0;
        while Instant::now() < deadline {
            let (status, _) = tokio::task::spawn_blocking(move || common::http_get(port, "/healthz", "")).await.unwrap();
            healthy += usize::from(status == 200);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut all = Vec::new();
        for a in attackers {
            all.extend(a.await.unwrap());
        }
        (all, healthy)
    });
    let peak = status_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy >= 5, "healthz answered {healthy} times");
    assert!(
        statuses.iter().any(|s| s == "401"),
        "some guesses were checked: {statuses:?}"
    );
    let grown_mib = peak.saturating_sub(before) / 1024;
    println!(
        "RSS {} MiB before, peak {} MiB; {} login replies",
        before / 1024,
        peak / 1024,
        statuses.len()
    );
    assert!(
        grown_mib < 100,
        "the server's memory grew by {grown_mib} MiB under the flood"
    );
}
