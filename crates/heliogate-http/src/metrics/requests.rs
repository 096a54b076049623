//! Requests by route template, method and status, with their latency per route.
//!
//! On the hot path a request costs a comparison of its route's template (which the router
//! already matched) with the one the route's counters were found for at its first request, a
//! clock read on each side, and a few atomic or briefly locked additions on that route's own
//! counters; no allocation once a route and status have been seen. The numbers are turned into
//! the exposition only when scraped.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use pin_project_lite::pin_project;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;

/// Seconds: from half a millisecond (a cached token check) to ten (a stuck database).
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// The methods counted by name; anything else is `OTHER`.
const METHODS: [&str; 8] = [
    "GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::HEAD => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// One route's numbers.
#[derive(Debug)]
struct RouteMetrics {
    latency: Histogram,
    /// Per method (`METHODS`): a counter per status seen.
    statuses: [RwLock<Vec<(u16, Counter)>>; METHODS.len()],
}

impl RouteMetrics {
    fn new() -> Self {
        Self {
            latency: Histogram::new(LATENCY_BUCKETS),
            statuses: Default::default(),
        }
    }

    fn answered(&self, method: usize, status: u16, seconds: f64) {
        self.latency.observe(seconds);
        let Some(statuses) = self.statuses.get(method) else {
            return;
        };
        if let Ok(seen) = statuses.read() {
            if let Some((_, counter)) = seen.iter().find(|(s, _)| *s == status) {
                counter.inc();
                return;
            }
        }
        if let Ok(mut seen) = statuses.write() {
            match seen.iter().find(|(s, _)| *s == status) {
                Some((_, counter)) => {
                    counter.inc();
                }
                None => {
                    let counter = Counter::default();
                    counter.inc();
                    seen.push((status, counter));
                }
            };
        }
    }
}

/// Every route's numbers, by template; `unmatched` for a request no route took.
#[derive(Debug, Default)]
pub(crate) struct Routes(RwLock<HashMap<String, Arc<RouteMetrics>>>);

impl Routes {
    fn route(&self, template: &str) -> Option<Arc<RouteMetrics>> {
        if let Some(found) = self.0.read().ok()?.get(template) {
            return Some(Arc::clone(found));
        }
        let mut all = self.0.write().ok()?;
        let entry = all
            .entry(template.to_owned())
            .or_insert_with(|| Arc::new(RouteMetrics::new()));
        Some(Arc::clone(entry))
    }
}

impl Collector for Routes {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(all) = self.0.read() else {
            return Ok(());
        };
        let mut routes: Vec<(&String, &Arc<RouteMetrics>)> = all.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        let mut requests = encoder.encode_descriptor(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            None,
            MetricType::Counter,
        )?;
        for (route, metrics) in &routes {
            for (method, statuses) in METHODS.iter().zip(&metrics.statuses) {
                let Ok(statuses) = statuses.read() else {
                    continue;
                };
                for (status, counter) in statuses.iter() {
                    let status = status.to_string();
                    let labels = [
                        ("method", *method),
                        ("route", route.as_str()),
                        ("status", status.as_str()),
                    ];
                    counter.encode(requests.encode_family(&labels)?)?;
                }
            }
        }
        let mut latency = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            None,
            MetricType::Histogram,
        )?;
        for (route, metrics) in &routes {
            let labels = [("route", route.as_str())];
            metrics.latency.encode(latency.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Counts the requests of the routes it wraps (applied with `Router::layer`, which wraps each
/// route after routing, where the matched route's template is known).
#[derive(Clone)]
pub(crate) struct TrackLayer(pub(crate) Arc<Routes>);

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track {
            inner,
            routes: Arc::clone(&self.0),
            found: Arc::default(),
        }
    }
}

/// A route's template and its counters, as found in `Routes` at the route's first request.
type Found = (Box<str>, Arc<RouteMetrics>);

/// The counting of one route (every clone of it, one a request, shares `found`).
#[derive(Clone)]
pub(crate) struct Track<S> {
    inner: S,
    routes: Arc<Routes>,
    found: Arc<OnceLock<Found>>,
}

impl<S> Track<S> {
    /// The counters of `template`: those found before when the template is theirs (always,
    /// as each route is wrapped in a `Track` of its own), else looked up.
    fn route(&self, template: &str) -> Option<Arc<RouteMetrics>> {
        if let Some((known, route)) = self.found.get() {
            if **known == *template {
                return Some(Arc::clone(route));
            }
        }
        let route = self.routes.route(template)?;
        let _ = self.found.set((template.into(), Arc::clone(&route)));
        Some(route)
    }
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let template = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let route = self.route(template);
        let method = method_index(request.method());
        Tracked {
            inner: self.inner.call(request),
            route,
            method,
            started: Instant::now(),
        }
    }
}

pin_project! {
    /// A request's answer, counted when it is ready.
    pub(crate) struct Tracked<F> {
        #[pin]
        inner: F,
        route: Option<Arc<RouteMetrics>>,
        method: usize,
        started: Instant,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(route)) = (&answer, this.route.as_ref()) {
            route.answered(
                *this.method,
                response.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(answer)
    }
}
