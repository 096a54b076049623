//! The headers every response carries unless its handler set its own: one layer that adds them
//! all at once, since it runs on every request (one service and one future in the stack rather
//! than one per header, and the map grown once).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use pin_project_lite::pin_project;

/// How many headers every response gets.
const ALWAYS_COUNT: usize = 4;

/// The headers of every response (name, value).
const ALWAYS: [(HeaderName, HeaderValue); ALWAYS_COUNT] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
];

/// Served over https: browsers keep to https for a year (RFC 6797).
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// The most headers the layer adds to a response: `ALWAYS` and HSTS.
pub(crate) const ADDED: usize = ALWAYS_COUNT + 1;

/// Adds `ALWAYS`, and `Strict-Transport-Security` when `hsts`, to every response that lacks them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecurityHeadersLayer {
    pub hsts: bool,
}

impl<S> tower::Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            hsts: self.hsts,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SecurityHeaders<S> {
    inner: S,
    hsts: bool,
}

impl<S, R> tower::Service<R> for SecurityHeaders<S>
where
    S: tower::Service<R, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithHeaders<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        WithHeaders {
            inner: self.inner.call(request),
            hsts: self.hsts,
        }
    }
}

pin_project! {
    pub(crate) struct WithHeaders<F> {
        #[pin]
        inner: F,
        hsts: bool,
    }
}

impl<F, E> Future for WithHeaders<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let headers = response.headers_mut();
        headers.reserve(ADDED);
        for (name, value) in ALWAYS {
            headers.entry(name).or_insert(value);
        }
        if *this.hsts {
            headers
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert(HSTS);
        }
        Poll::Ready(Ok(response))
    }
}
