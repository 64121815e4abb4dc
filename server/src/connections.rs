//! Accepting connections: at most so many open at once, a deadline for each request head,
//! and a graceful shutdown that lets requests in flight finish.
//!
//! `axum::serve` has neither limit. Its hyper builder has no timer, so hyper's header-read
//! timeout never fires, and it accepts without bound: a client that opens connections and
//! sends each request head a byte at a time (slowloris) holds every one of them for as long
//! as it likes. Here hyper gets tokio's timer, and a semaphore holds one permit per open
//! connection; with none left the listener stops accepting, so new connections wait in the
//! kernel's backlog until one closes, and a stalled head frees its permit at the deadline.
//!
//! The deadline runs only while hyper waits for a request head (a new connection, or a
//! keep-alive one between requests), never while a response is sent: a live stream that the
//! client only reads keeps its connection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service as _;

/// How the listener bounds the connections it serves (`FIN_MAX_CONNECTIONS`,
/// `FIN_HEADER_READ_TIMEOUT_SECS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request head, from the moment the server waits
    /// for one; then the connection is closed. Idle keep-alive connections close after it too.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then accepts
/// nothing more, asks every connection to close after its request in flight, and returns
/// when all have. Handlers see the peer as `ConnectInfo<SocketAddr>`, as with axum's
/// `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Waiting here, not accepting, is what makes the limit: the kernel holds the rest.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Clients that leave mid-request or never finish a head: routine, not faults.
                tracing::debug!(error = %e, %peer, timed_out = e.is_timeout(), "connection ended early");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Out of file descriptors (or another resource): say so and wait a moment, as hyper 0.14
/// and axum do, rather than spin. A peer that reset before being accepted is routine.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
