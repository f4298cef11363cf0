//! `--login-flood SECONDS`: the audit's unauthenticated memory attack, as a benchmark. N
//! connections post wrong passwords to `POST /api/login` as fast as they are answered, from
//! one loopback address or spread over many (`--spread-addresses`, so per-address limits do
//! not hide the hashing cost), while a prober times `GET /healthz` from another address and
//! the server's memory is sampled. Loopback only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the flood saw.
pub struct Report {
    pub statuses: std::collections::BTreeMap<u16, u64>,
    pub healthz_ms: Vec<f64>,
    pub healthz_failures: u64,
    pub rss_before_kib: Option<u64>,
    pub rss_peak_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
}

/// One HTTP/1.1 request from `from`; the status (0: no answer in 10 s or a connection error).
async fn request(from: IpAddr, addr: SocketAddr, raw: &str) -> u16 {
    let attempt = async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let mut stream = socket.connect(addr).await?;
        stream.write_all(raw.as_bytes()).await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        let head = String::from_utf8_lossy(&buf[..buf.len().min(32)]).to_string();
        std::io::Result::Ok(
            head.split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        )
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(status)) => status,
        _ => 0,
    }
}

/// Runs the flood against `addr` for `secs` seconds with `connections` attackers.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    secs: u64,
    spread: bool,
    server_pid: Option<u32>,
) -> Report {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let counts: Arc<[AtomicU64; 600]> = Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
    let mut attackers = Vec::new();
    for i in 0..connections {
        let counts = counts.clone();
        // 127.0.0.10 … (or all from 127.0.0.1); the prober uses 127.0.0.2.
        let from = if spread {
            IpAddr::from([127, 0, (10 + i / 200) as u8, (10 + i % 200) as u8])
        } else {
            IpAddr::from([127, 0, 0, 1])
        };
        attackers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let body = format!(r#"{{"user":"admin","password":"wrong guess {i}-{n}"}}"#);
                let raw = format!(
                    "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let status = request(from, addr, &raw).await;
                counts[usize::from(status).min(599)].fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        }));
    }
    let rss_before_kib = server_pid.and_then(crate::rss_kib);
    let mut rss_peak_kib = rss_before_kib;
    let mut healthz_ms = Vec::new();
    let mut healthz_failures = 0;
    let probe = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    while Instant::now() < deadline {
        let t = Instant::now();
        if request(IpAddr::from([127, 0, 0, 2]), addr, &probe).await == 200 {
            healthz_ms.push(t.elapsed().as_secs_f64() * 1e3);
        } else {
            healthz_failures += 1;
        }
        if let Some(rss) = server_pid.and_then(crate::rss_kib) {
            rss_peak_kib = Some(rss_peak_kib.map_or(rss, |p| p.max(rss)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for a in attackers {
        let _ = a.await;
    }
    let rss_after_kib = server_pid.and_then(crate::rss_kib);
    healthz_ms.sort_by(f64::total_cmp);
    Report {
        statuses: counts
            .iter()
            .enumerate()
            .filter_map(|(s, c)| {
                let c = c.load(Ordering::Relaxed);
                (c > 0).then_some((s as u16, c))
            })
            .collect(),
        healthz_ms,
        healthz_failures,
        rss_before_kib,
        rss_peak_kib,
        rss_after_kib,
    }
}
