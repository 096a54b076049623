//! The address a request came from, when heliogate runs behind reverse proxies.
//!
//! A proxy's peer address is its own, so every user would share one throttle key and one audit
//! address. Only peers in `HELIOGATE_TRUSTED_PROXIES` are believed about the hops before them:
//! the client is the rightmost hop of `X-Forwarded-For` (or, without it, of `Forwarded`) that is
//! not itself a trusted proxy. Entries left of it were written by the client, who can write
//! anything there, so they are never read.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::networks::{canonical, Networks};
use crate::AppState;

/// The peers whose forwarding headers are believed; empty (the default) believes none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrustedProxies(Networks);

impl TrustedProxies {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks whose forwarding headers are believed.
    pub fn networks(&self) -> &Networks {
        &self.0
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }

    /// The client's address: `peer` itself unless it is a trusted proxy, else the rightmost
    /// untrusted hop its forwarding headers name (the leftmost hop when every one is trusted).
    /// A hop that is not an address (`unknown`, an obfuscated `_name`, garbage) ends the walk
    /// there: nothing to its left can be believed, and the proxy that wrote it is the client
    /// as far as heliogate can tell.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_hops(headers).into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// The hops of `X-Forwarded-For`, or of `Forwarded`'s `for=` when there is no
/// `X-Forwarded-For`, left to right over every header line; `None` for a hop that is not an
/// address.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    forwarded_values(headers, "x-forwarded-for", "for")
        .into_iter()
        .map(|hop| hop.and_then(parse_hop))
        .collect()
}

/// What the proxies say of one thing, element by element, left to right over every header
/// line: the comma-separated values of `x_header` (`X-Forwarded-For`, `-Proto`), or, when no
/// such header came, the `param` (`for`, `proto`) of each `Forwarded` element (RFC 7239),
/// `None` where an element lacks it.
fn forwarded_values<'h>(
    headers: &'h HeaderMap,
    x_header: &str,
    param: &str,
) -> Vec<Option<&'h str>> {
    let lines = |name: &str| -> Vec<&'h str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect()
    };
    let unquoted = |value: &'h str| value.trim().trim_matches('"');
    let x = lines(x_header);
    if !x.is_empty() {
        return x
            .into_iter()
            .flat_map(|line| line.split(','))
            .map(|value| Some(unquoted(value)))
            .collect();
    }
    lines("forwarded")
        .into_iter()
        .flat_map(|line| line.split(','))
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(key, _)| key.eq_ignore_ascii_case(param))
                .map(|(_, value)| unquoted(value))
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:567`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        return inside.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Whether a trusted proxy says the request reached it over plain http: an `X-Forwarded-Proto`
/// (or, without it, a `Forwarded` `proto=`) that names `http` anywhere.
fn forwarded_plain_http(headers: &HeaderMap) -> bool {
    forwarded_values(headers, "x-forwarded-proto", "proto")
        .into_iter()
        .flatten()
        .any(|proto| proto.eq_ignore_ascii_case("http"))
}

/// With an https issuer, a request a trusted proxy received over plain http (RFC 6749 §3.1,
/// §3.2: the endpoints require TLS): a page is sent to the same path on the issuer, anything
/// else is refused, so that a client that sent a secret in the clear learns it at once. The
/// issuer, not the request's `Host`, names where to go: no open redirect.
pub(crate) async fn require_https(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let config = &state.config;
    let peer = request.extensions().get::<Peer>().map(|peer| peer.ip);
    let from_proxy = peer.is_some_and(|ip| config.trusted_proxies.trusts(ip));
    if !(from_proxy && forwarded_plain_http(request.headers())) {
        return next.run(request).await;
    }
    let method = request.method();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let to = format!("{}{path}", config.issuer);
        return axum::response::Redirect::permanent(&to).into_response();
    }
    crate::error::error_json(
        axum::http::StatusCode::BAD_REQUEST,
        "invalid_request",
        "this server is reached over https only",
    )
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(TrustedProxies)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The connection a request came over: its peer's address, and that address as text, written
/// once for the connection's requests rather than for each (in every request's extensions).
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    ip: IpAddr,
    text: Arc<str>,
}

impl Peer {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        let ip = canonical(addr.ip());
        Self {
            ip,
            text: Arc::from(ip.to_string()),
        }
    }
}

/// The address the request came from, for throttling and the audit log: the peer, or the
/// client a trusted proxy names (`proxy`).
pub struct ClientAddr(pub Option<Arc<str>>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<Peer>().map(|peer| {
            let client = state.config.trusted_proxies.client(peer.ip, &parts.headers);
            if client == peer.ip {
                Arc::clone(&peer.text)
            } else {
                Arc::from(client.to_string())
            }
        })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(proxies.client(ip("192.0.2.7"), &h), ip("192.0.2.7"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_not_what_the_client_wrote() {
        let proxies: TrustedProxies = "10.0.0.0/8, 2001:db8::/32".parse().unwrap();
        // The client wrote "6.6.6.6"; the first proxy appended the client's real address.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.9, 10.1.2.3")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        // Over several header lines, and through an IPv6 socket.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.9:4711"),
        ]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.1"), &h),
            ip("198.51.100.9")
        );
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6, for="[2001:db9::5]:80";proto=https"#,
        )]);
        assert_eq!(proxies.client(ip("2001:db8::1"), &h), ip("2001:db9::5"));
    }

    #[test]
    fn a_hop_that_is_no_address_stops_the_walk() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, unknown, 10.9.9.9")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("10.9.9.9"));
        // Only trusted hops: the leftmost of them. No header: the proxy itself.
        let h = headers(&[("x-forwarded-for", "10.7.7.7, 10.9.9.9")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("10.7.7.7"));
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn plain_http_is_any_forwarded_proto_that_says_http() {
        assert!(forwarded_plain_http(&headers(&[(
            "x-forwarded-proto",
            "http"
        )])));
        assert!(forwarded_plain_http(&headers(&[(
            "x-forwarded-proto",
            "https, HTTP"
        )])));
        assert!(!forwarded_plain_http(&headers(&[(
            "x-forwarded-proto",
            "https"
        )])));
        assert!(forwarded_plain_http(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=http"
        )])));
        assert!(!forwarded_plain_http(&headers(&[(
            "forwarded",
            "for=1.2.3.4;proto=https"
        )])));
        assert!(!forwarded_plain_http(&HeaderMap::new()));
    }

    #[test]
    fn malformed_networks_are_refused_naming_them() {
        for bad in ["10.0.0.0/33", "example.com", "::1/129", "10.0.0.0/x"] {
            let err = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(err.contains(bad.split('/').next().unwrap()), "{err}");
        }
        let ok: TrustedProxies = " 127.0.0.1 ::1 ".parse().unwrap();
        assert_eq!(ok.to_string(), "127.0.0.1/32,::1/128");
        assert!("0.0.0.0/0"
            .parse::<TrustedProxies>()
            .unwrap()
            .trusts(ip("8.8.8.8")));
    }
}

#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a client writes in `Forwarded` or `X-Forwarded-For`, the address is one
        /// the trusted proxies named or the peer itself: never a panic, never a value made up
        /// from an untrusted hop.
        #[test]
        fn forwarded_headers_name_a_peer_or_a_trusted_hop(
            forwarded in "[ -~]{0,80}",
            x_forwarded in "[0-9a-f.:, \\[\\]]{0,80}",
            setting in "[0-9a-f.:/, ]{0,40}",
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&forwarded) {
                headers.insert("forwarded", v);
            }
            if let Ok(v) = HeaderValue::from_str(&x_forwarded) {
                headers.insert("x-forwarded-for", v);
            }
            let peer: IpAddr = "203.0.113.7".parse().unwrap();
            let untrusted = TrustedProxies::default();
            prop_assert_eq!(untrusted.client(peer, &headers), peer);
            if let Ok(proxies) = setting.parse::<TrustedProxies>() {
                let _ = proxies.client(peer, &headers);
            }
            let _ = setting.parse::<crate::Networks>();
        }
    }
}
