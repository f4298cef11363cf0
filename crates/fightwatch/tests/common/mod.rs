//! Helpers shared by the end-to-end tests of the `fightwatch` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod cluster;
pub mod receiver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The binary with `args`, to run from the repository root with no ORT_DYLIB_PATH inherited
/// and quiet logs (a test may change any of these before it runs it).
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fightwatch"));
    cmd.args(args)
        .current_dir(repo())
        .env_remove("ORT_DYLIB_PATH")
        .env("RUST_LOG", "error");
    cmd
}

/// Runs the binary (see [`command`]) to completion.
pub fn fightwatch(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

/// A port of 127.0.0.1 where nothing listens, *below* the kernel's ephemeral range
/// (32768–60999 here), so no outgoing connection of a parallel test can take it before a server
/// binds it (or while a restarted server is down). Checked by connecting, not by binding: a
/// probe listener would be copied into any child another test thread forks at that moment and
/// stay bound until the child execs.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    let start = std::process::id().wrapping_mul(7919) % COUNT;
    loop {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return port,
            _ => {}
        }
    }
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A plain HTTP/1.1 GET; returns (status, body).
pub fn http_get(port: u16, path: &str, token: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = http_get_with(port, path, token, "");
    (status, body)
}

/// A plain HTTP/1.1 GET with extra header lines (each ending in `\r\n`); returns (status,
/// head, body). The body is read to the end (the server closes: `Connection: close`).
pub fn http_get_with(port: u16, path: &str, token: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

/// A WebSocket client connection.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A plain HTTP/1.1 POST of a JSON body; returns (status, body).
pub fn http_post(port: u16, path: &str, token: &str, json: &str) -> (u16, Vec<u8>) {
    http_send(port, "POST", path, token, json)
}

/// `METHOD path` with a JSON body; status and body.
pub fn http_send(port: u16, method: &str, path: &str, token: &str, json: &str) -> (u16, Vec<u8>) {
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        json.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{headers}Connection: close\r\n\r\n{json}").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

/// A child process killed when dropped: a failing test leaves no server behind.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `fightwatch run --config DIR/fightwatch.toml` with `FIGHTWATCH_JWT_SECRET` = `secret` and
/// `env`, output discarded; killed when dropped.
pub fn run_service(dir: &Path, secret: &str, env: &[(&str, &str)]) -> KillOnDrop {
    let mut cmd = command(&["run", "--config"]);
    cmd.arg(dir.join("fightwatch.toml"))
        .env("FIGHTWATCH_JWT_SECRET", secret)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    KillOnDrop(cmd.spawn().unwrap())
}

/// A token of a new session of `user` (`role`) in the data directory `data`.
pub fn data_token(data: &Path, secret: &str, user: &str, role: &str) -> String {
    let out = command(&["token", "--user", user, "--role", role, "--data-dir"])
        .arg(data)
        .env("FIGHTWATCH_JWT_SECRET", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// A stored account (`fightwatch user add`, restricted to `cameras` when any) signed in
/// through `POST /api/login`: its token.
pub fn account_token(data: &Path, port: u16, user: &str, role: &str, cameras: &[&str]) -> String {
    use std::io::{Read, Write};
    let password = format!("a long enough password of {user}");
    let mut cmd = command(&["user", "add", user, "--role", role, "--password-stdin"]);
    for c in cameras {
        cmd.args(["--camera", c]);
    }
    let mut add = cmd
        .arg("--data-dir")
        .arg(data)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());
    let body = format!(r#"{{"user":"{user}","password":"{password}"}}"#);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST /api/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let json = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|_| panic!("{raw}"));
    v["token"].as_str().unwrap().to_string()
}

/// A WebSocket to `/ws?QUERY` once the service listens (30 s at most).
pub async fn ws_connect(port: u16, query: &str) -> Ws {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?{query}")).await {
            Ok((ws, _)) => return ws,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("service did not come up: {e}"),
        }
    }
}
