//! The HTTP listener: hyper's HTTP/1.1 server with the limits `axum::serve` lacks — a total
//! and a per-address connection cap, a header-read timeout (slow-header attacks), and a raised
//! descriptor limit — and a graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

use crate::Hub;

/// Unsent bytes the kernel may queue per connection (`TCP_NOTSENT_LOWAT`).
const NOTSENT_LOWAT: u32 = 128 * 1024;

/// A listener on `addr` whose kernel backlog holds `backlog` connections waiting to be accepted
/// (the kernel caps it at `net.core.somaxconn`): where a surge waits while accepting pauses.
pub fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves `hub` on `listener` until `shutdown` completes, then lets open requests finish
/// (up to 5 s). Client addresses reach the handlers as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Arc<Hub>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    raise_descriptor_limit(&hub);
    let app = crate::app(hub.clone());
    let config = &hub.config;
    let max = config.max_http_connections.max(1);
    let connections = Arc::new(tokio::sync::Semaphore::new(max));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(hub.clone().maintain());
    let mut paused_logged = std::time::Instant::now() - Duration::from_secs(60);
    tokio::pin!(shutdown);
    loop {
        // At the cap, accepting pauses: new connections wait in the kernel's backlog (a surge
        // of honest clients after a restart is slowed, not refused) and each one taken has the
        // header-read timeout, so slow clients cannot hold the places for long.
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if paused_logged.elapsed() > Duration::from_secs(10) {
                    tracing::info!(
                        max,
                        "HTTP connection cap reached: accepting pauses until one ends."
                    );
                    paused_logged = std::time::Instant::now();
                }
                tokio::select! {
                    permit = connections.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the caps above keep
                    // this rare.
                    tracing::warn!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // One address over its own cap is refused (closed) at once: it is not a surge of
        // many clients but one client holding too much.
        let Some(slot) = hub.http_per_ip.take(peer.ip()) else {
            drop(permit);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Queue at most this much unsent data in the kernel: a client that stops reading then
        // blocks our writes within a few frames instead of after megabytes of autotuned send
        // buffer (live view drops such a viewer once it blocks: audit round two, finding 4).
        // What is in flight is not limited, so throughput is not either.
        let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(NOTSENT_LOWAT);
        let service =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_headers(64);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    maintenance.abort();
    let _ = stop_tx.send(true);
    // Every connection task holds a permit: all back means all done.
    let _ =
        tokio::time::timeout(Duration::from_secs(5), connections.acquire_many(max as u32)).await;
    Ok(())
}

/// Raises the open-file limit to the hard limit, so the connection caps, not the kernel, say
/// when to refuse; warns when even that is too low for them.
fn raise_descriptor_limit(hub: &Hub) {
    let wanted = (hub.config.max_http_connections + hub.config.max_websockets + 256) as u64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            wanted,
            "The open-file limit is below the connection caps; lower max_websockets or raise the hard limit."
        ),
        Ok(limit) => tracing::debug!(limit, "Open-file limit."),
        Err(e) => tracing::warn!(error = %e, "Cannot raise the open-file limit."),
    }
}

/// The client address of a request served by [`serve`] (unspecified when served otherwise).
pub(crate) fn peer_of(info: Option<&axum::Extension<ConnectInfo<SocketAddr>>>) -> std::net::IpAddr {
    info.map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
        c.0.0.ip()
    })
}
