//! The front door: how connections are accepted and kept, so that slow or idle clients cannot
//! hold what others need.
//!
//! - A connection may wait `header_timeout` with no request in progress: a client that
//!   trickles a request line, keeps an idle keep-alive connection open, or does not take its
//!   answer, is closed then (within a tenth of the timeout, or a second, more).
//! - Headers are bounded: 64 KiB in all (hyper's read buffer) and 16 KiB for one (`limit_headers`),
//!   past which the answer is 431.
//! - At most `max_connections` are open (lowered to what the descriptor limit leaves). A new
//!   connection past the bound takes the place of the connection that has waited longest
//!   without a request in progress — a slow or idle one — so a health check always gets in
//!   while the server is merely crowded; only when every connection is serving a request is a
//!   newcomer refused, with a plain 503 and `Retry-After`.

mod connections;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use crate::proxy::Peer;

pub(crate) use connections::Connections;

/// The most one header (name and value) may hold.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most a request line and all its headers may hold.
pub const MAX_HEADERS_BYTES: usize = 64 * 1024;

/// How the front door is bounded.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// How long a request's headers may take to arrive (also how long a connection may idle).
    pub header_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most revocation-feed streams at once, and per client.
    pub feed_streams: usize,
    pub feed_streams_per_client: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            feed_streams: 256,
            feed_streams_per_client: 4,
        }
    }
}

/// The layer that answers 431 (`limit_headers`) before routing: a plain service wrapper, since
/// it runs on every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderLimitLayer;

impl<S> tower::Layer<S> for HeaderLimitLayer {
    type Service = HeaderLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeaderLimit(inner)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HeaderLimit<S>(S);

impl<S, B> tower::Service<axum::http::Request<B>> for HeaderLimit<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        futures_util::future::Either<std::future::Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        match limit_headers(request.headers()) {
            Ok(()) => futures_util::future::Either::Right(self.0.call(request)),
            Err(refusal) => futures_util::future::Either::Left(std::future::ready(Ok(refusal))),
        }
    }
}

/// 431 for a request with a header larger than `MAX_HEADER_BYTES`, or headers larger than
/// `MAX_HEADERS_BYTES` in all (RFC 6585 §5).
#[allow(clippy::result_large_err)] // answered at once
pub(crate) fn limit_headers(headers: &HeaderMap) -> Result<(), Response> {
    let mut total = 0;
    for (name, value) in headers {
        let size = name.as_str().len() + value.len();
        total += size + 4;
        if size > MAX_HEADER_BYTES || total > MAX_HEADERS_BYTES {
            let message = format!(
                "a header may hold at most {MAX_HEADER_BYTES} bytes, and all of them \
                 {MAX_HEADERS_BYTES}"
            );
            return Err((StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message).into_response());
        }
    }
    Ok(())
}

/// The answer to a connection past the bound when every connection is serving a request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 38\r\n\r\n\
heliogate is busy; try again shortly.\n";

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then lets the
/// requests in flight finish (`on_shutdown` runs first: it ends what never ends by itself).
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_shutdown: impl FnOnce(),
) -> std::io::Result<()> {
    let connections = Connections::new(limits.max_connections);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // Headers are timed by the registry's sweep (`close_overdue`), not by hyper: hyper's
    // timer allocates a sleep and enters it in the timer wheel for every request.
    http.header_read_timeout(None)
        .max_buf_size(MAX_HEADERS_BYTES);
    let sweep = tokio::spawn(close_overdue(
        Arc::clone(&connections),
        limits.header_timeout,
    ));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory: the connections in hand finish first.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = connections.admit() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = per_connection(app.clone(), peer, Arc::clone(&slot));
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                () = slot.evicted() => {}
            }
        });
    }
    on_shutdown();
    // Until every connection is done: a request's headers are timed during shutdown too.
    graceful.shutdown().await;
    sweep.abort();
    Ok(())
}

/// Closes the connections that have waited longer than `timeout` with no request in progress,
/// looking ten times in each `timeout` (and at least once a second): a connection goes between
/// `timeout` and a tenth more (a second more at the most) after it began to wait.
async fn close_overdue(connections: Arc<Connections>, timeout: Duration) {
    let period = (timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        connections.close_overdue(timeout);
    }
}

/// The router for one connection: it knows the peer's address, and tells the connection's
/// slot while a request is in progress (until its response body is done).
fn per_connection(
    app: Router,
    peer: SocketAddr,
    slot: Arc<connections::Slot>,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
            hyper::Request<Incoming>,
            Response = Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    let peer = Peer::new(peer);
    let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        let busy = slot.busy();
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(axum::body::Body::new)).await?;
            // A body of known length is written at once: the request is done with the answer.
            // A stream (the revocation feed) keeps it in progress while it lasts.
            if http_body::Body::size_hint(response.body())
                .exact()
                .is_some()
            {
                drop(busy);
                return Ok(response);
            }
            Ok(response.map(|body| axum::body::Body::new(connections::Busy::new(body, busy))))
        }
    });
    hyper_util::service::TowerToHyperService::new(service)
}
