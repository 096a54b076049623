//! Prometheus metrics (`GET /metrics`): requests by route and status with their latency, the
//! protocol's outcomes (tokens issued, token checks, sign-ins, lockouts), the store's pool and
//! token writer, and the build. Counted with `prometheus-client`, which also writes the
//! exposition (OpenMetrics text).
//!
//! Requests are counted by a layer of their own (`requests`); the protocol's outcomes by the
//! handlers that know them; the store's numbers are read only when scraped.

mod requests;
mod store;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use heliogate_app::backchannel::LogoutCounts;
use heliogate_store::Store;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use self::requests::{Routes, TrackLayer};
use crate::proxy::ClientAddr;
use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

/// Where a token was checked.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // the label values, as written
pub enum CheckEndpoint {
    introspect,
    tokeninfo,
    userinfo,
}

impl CheckEndpoint {
    /// Every endpoint, each at its own discriminant: `Metrics::token_checks` is indexed by it.
    const ALL: [Self; 3] = [Self::introspect, Self::tokeninfo, Self::userinfo];
}

// A check is counted under `ALL[endpoint as usize]`'s labels: the build fails if they differ.
const _: () = {
    let mut i = 0;
    while i < CheckEndpoint::ALL.len() {
        assert!(CheckEndpoint::ALL[i] as usize == i);
        i += 1;
    }
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    endpoint: CheckEndpoint,
    /// `active`, or `inactive` for an unknown, expired or revoked token.
    result: &'static str,
}

/// How a sign-in ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SignInResult {
    succeeded,
    refused,
    /// Refused unheard: the name or the address is locked.
    throttled,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    result: SignInResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Back-channel logouts this node sent, by outcome, read when scraped.
#[derive(Debug)]
struct LogoutCollector(Arc<LogoutCounts>);

impl prometheus_client::collector::Collector for LogoutCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let mut family = encoder.encode_descriptor(
            "backchannel_logouts",
            "Back-channel logout deliveries this node attempted, by outcome",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, count) in self.0.snapshot() {
            prometheus_client::metrics::counter::ConstCounter::new(count)
                .encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        Ok(())
    }
}

/// The server's metrics, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route template (never the raw path: a bounded set), method and status.
    routes: Arc<Routes>,
    tokens_issued: Family<GrantLabels, Counter>,
    /// Token checks by endpoint (`CheckEndpoint`'s order) and result (inactive, active), each
    /// counter found once: a check adds to it without a lookup.
    token_checks: [[Counter; 2]; CheckEndpoint::ALL.len()],
    sign_ins: Family<SignInLabels, Counter>,
    lockouts: Counter,
}

impl Metrics {
    pub fn new(store: Arc<dyn Store>, logouts: Arc<LogoutCounts>) -> Self {
        let mut registry = Registry::with_prefix("heliogate");
        let routes = Arc::new(Routes::default());
        registry.register_collector(Box::new(Arc::clone(&routes)));
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued, by grant type",
            tokens_issued.clone(),
        );
        let token_checks = Family::<CheckLabels, Counter>::default();
        registry.register(
            "token_checks",
            "Access tokens checked, by endpoint and result",
            token_checks.clone(),
        );
        let token_checks = CheckEndpoint::ALL.map(|endpoint| {
            ["inactive", "active"].map(|result| {
                token_checks
                    .get_or_create(&CheckLabels { endpoint, result })
                    .clone()
            })
        });
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "sign_ins",
            "Sign-in attempts with a password, by result",
            sign_ins.clone(),
        );
        let lockouts = Counter::default();
        registry.register(
            "lockouts",
            "Failed sign-ins that locked a user name or a client address",
            lockouts.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register_collector(Box::new(store::StoreCollector(store)));
        registry.register_collector(Box::new(LogoutCollector(logouts)));
        Self {
            registry,
            routes,
            tokens_issued,
            token_checks,
            sign_ins,
            lockouts,
        }
    }

    pub fn token_issued(&self, grant_type: &'static str) {
        self.tokens_issued
            .get_or_create(&GrantLabels { grant_type })
            .inc();
    }

    pub fn token_checked(&self, endpoint: CheckEndpoint, active: bool) {
        if let Some(by_result) = self.token_checks.get(endpoint as usize) {
            by_result[usize::from(active)].inc();
        }
    }

    pub fn sign_in(&self, result: SignInResult, locked: bool) {
        self.sign_ins.get_or_create(&SignInLabels { result }).inc();
        if locked {
            self.lockouts.inc();
        }
    }

    /// The layer that counts requests by route.
    pub(crate) fn track(&self) -> TrackLayer {
        TrackLayer(Arc::clone(&self.routes))
    }

    /// The exposition, as scraped.
    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// The exposition, for a scraper inside `metrics_from`; 404 for anyone else, as if there were
/// none.
async fn scrape(State(state): State<AppState>, ClientAddr(addr): ClientAddr) -> Response {
    let allowed = addr
        .and_then(|a| a.parse().ok())
        .is_some_and(|ip| state.config.metrics_from.contains(ip));
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
