//! A minimal HTTP/1.1 receiver on loopback for the integration tests (webhooks, a push
//! service): records every request, answers the status it is told.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// One request as the receiver saw it (header names in lower case).
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// What the receiver shares with its test.
#[derive(Clone)]
pub struct Receiver {
    pub log: Arc<Mutex<Vec<Received>>>,
    /// The status answered, read at each request.
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` (answering 200 until told otherwise), on the current runtime.
    pub fn start(port: u16) -> (Self, tokio::task::JoinHandle<()>) {
        let this = Self {
            log: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        };
        let task = tokio::spawn(serve(port, this.clone()));
        (this, task)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve(port: u16, shared: Receiver) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let mut headers = BTreeMap::new();
                loop {
                    line.clear();
                    reader.read_line(&mut line).await.unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).await.unwrap();
                shared.log.lock().unwrap().push(Received {
                    path,
                    headers,
                    body,
                });
                let code = shared.status.load(Ordering::SeqCst);
                reader
                    .get_mut()
                    .write_all(format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        });
    }
}
