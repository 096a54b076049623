//! `GET /metrics`: scraped after a flow and read with a Prometheus text parser.

use prometheus_parse::{Sample, Scrape, Value};

use crate::helpers::{Browser, TestApp};
use crate::oauth_helpers::{client_token, http, post_form, register_resource_server, PASSWORD};

heliogate_store::for_each_backend!(crate::helpers::on;
    metrics_count_requests_tokens_checks_and_sign_ins,
    metrics_are_only_for_the_allowed_networks,
);

async fn scrape(server: &crate::helpers::Server) -> Scrape {
    let text = scrape_text(server).await;
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The exposition as served, checked as OpenMetrics wants it.
async fn scrape_text(server: &crate::helpers::Server) -> String {
    let response = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    every_histogram_adds_up(&text);
    text
}

/// OpenMetrics §histogram: buckets are cumulative, never fall, and the `+Inf` bucket is the
/// `_count`. (A strict parser refuses the whole scrape otherwise.)
fn every_histogram_adds_up(text: &str) {
    let histograms: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" histogram"))
        .collect();
    assert!(!histograms.is_empty(), "{text}");
    for name in histograms {
        // Series by their labels other than `le`: (last bucket seen, +Inf bucket, count).
        let mut series: std::collections::HashMap<String, (f64, Option<f64>, Option<f64>)> =
            Default::default();
        for line in text.lines().filter(|l| l.starts_with(name)) {
            let (metric, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            let (base, labels) = metric.split_once('{').unwrap_or((metric, "}"));
            let labels = labels.trim_end_matches('}');
            let mut le = None;
            let rest: Vec<&str> = labels
                .split(',')
                .filter(|l| match l.strip_prefix("le=") {
                    Some(bound) => {
                        le = Some(bound.trim_matches('"').to_owned());
                        false
                    }
                    None => !l.is_empty(),
                })
                .collect();
            let entry = series.entry(rest.join(",")).or_insert((0.0, None, None));
            if base == format!("{name}_bucket") {
                assert!(value >= entry.0, "{name} {labels}: buckets fall at {value}");
                entry.0 = value;
                if le.as_deref() == Some("+Inf") {
                    entry.1 = Some(value);
                }
            } else if base == format!("{name}_count") {
                entry.2 = Some(value);
            }
        }
        for (labels, (_, inf, count)) in series {
            assert_eq!(
                inf, count,
                "{name}{{{labels}}}: the +Inf bucket is not the count"
            );
        }
    }
}

/// Runs Python's strict OpenMetrics parser (prometheus_client, PyPI) over `text`, where CI
/// installed it.
fn strict_parser_accepts(text: &str) {
    let python = crate::admin_api::validator_python();
    let check = "import sys\n\
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
families = list(parse(sys.stdin.read()))\n\
assert families, 'no metric family'\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        text
    );
}

/// The value of the sample `name` whose labels include `labels`; 0 when there is none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching =
        |s: &&Sample| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v));
    scrape
        .samples
        .iter()
        .filter(matching)
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

async fn metrics_count_requests_tokens_checks_and_sign_ins(app: TestApp) {
    app.add_user("alice", &["reader"]).await;
    let (id, secret) = register_resource_server(&app).await;
    let client = (id.as_str(), secret.as_str());
    let server = app.serve(&[("HELIOGATE_LOGIN_MAX_FAILURES", "2")]).await;
    let before = scrape(&server).await;
    assert_eq!(value(&before, "heliogate_build_info", &[]), 1.0);
    assert!(value(&before, "heliogate_db_pool_max_connections", &[]) >= 1.0);

    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(client_token(&server, client).await);
    }
    for token in [tokens[0].as_str(), "not-a-token"] {
        post_form(
            &server,
            "/oauth/introspect",
            Some(client),
            &[("token", token)],
        )
        .await;
        http()
            .get(server.url("/oauth/tokeninfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    let browser = Browser::new(&server);
    assert_eq!(
        browser.sign_in("alice", "wrong password").await.status(),
        401
    );
    assert_eq!(browser.sign_in("alice", "wrong again").await.status(), 401);
    assert_eq!(browser.sign_in("alice", PASSWORD).await.status(), 429);
    let browser = Browser::new(&server);
    let _ = browser.sign_in("bob", PASSWORD).await;

    let after = scrape(&server).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        moved(
            "heliogate_tokens_issued_total",
            &[("grant_type", "client_credentials")]
        ),
        3.0
    );
    for endpoint in ["introspect", "tokeninfo"] {
        assert_eq!(
            moved(
                "heliogate_token_checks_total",
                &[("endpoint", endpoint), ("result", "active")]
            ),
            1.0
        );
        assert_eq!(
            moved(
                "heliogate_token_checks_total",
                &[("endpoint", endpoint), ("result", "inactive")]
            ),
            1.0
        );
    }
    assert_eq!(
        moved("heliogate_sign_ins_total", &[("result", "refused")]),
        3.0
    );
    assert_eq!(
        moved("heliogate_sign_ins_total", &[("result", "throttled")]),
        1.0
    );
    assert_eq!(moved("heliogate_lockouts_total", &[]), 1.0);
    // Requests by route template and status, with their latency.
    assert_eq!(
        moved(
            "heliogate_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/oauth/token"),
                ("status", "200")
            ]
        ),
        3.0
    );
    assert_eq!(
        moved(
            "heliogate_http_requests_total",
            &[("route", "/oauth/tokeninfo"), ("status", "401")]
        ),
        1.0
    );
    assert!(
        moved(
            "heliogate_http_request_duration_seconds",
            &[("route", "/oauth/token")]
        ) >= 3.0
    );
    // The token writer's commits carried the three issuances.
    assert_eq!(moved("heliogate_token_writer_batch_size_sum", &[]), 3.0);
    strict_parser_accepts(&scrape_text(&server).await);
    assert!(value(&after, "heliogate_token_writer_queue_depth", &[]) >= 0.0);
}

async fn metrics_are_only_for_the_allowed_networks(app: TestApp) {
    let server = app
        .serve(&[("HELIOGATE_METRICS_FROM", "192.0.2.0/24")])
        .await;
    let response = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let refused: crate::helpers::Run = app
        .command()
        .env("HELIOGATE_METRICS_FROM", "not-a-network")
        .arg("migrate")
        .output()
        .unwrap()
        .into();
    refused.refused("HELIOGATE_METRICS_FROM");
}
