//! OpenID Connect Back-Channel Logout 1.0: when a sign-in session ends while live — signed out,
//! ended by RP-initiated logout, on the sessions page or by an administrator, with its user
//! disabled, deleted or given a new password — every relying party that received an ID token
//! in it and registered a `backchannel_logout_uri` is POSTed a signed logout token.
//!
//! The store queues the deliveries itself, in the transaction that ends the session (migration
//! 0025), so no way of ending a session can forget them and none is lost to a crash. Every node
//! runs a `Deliverer`: it claims what is due under a lease (two nodes never send the same one
//! at once; a node that dies mid-delivery leaves it to another when the lease runs out), signs
//! a logout token with the key the client's ID tokens are signed with, and records each
//! attempt in the audit log. A delivery that fails (no answer, or anything but 2xx) is tried
//! again with back-off (`heliogate_core::backchannel::next_attempt`) and given up after
//! `MAX_ATTEMPTS`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use heliogate_core::backchannel::{next_attempt, LogoutTokenClaims, LOGOUT_TOKEN_TYPE};
use heliogate_core::{ClientId, UnixTime};
use heliogate_store::{Client, LogoutDelivery};
use serde_json::json;
use tokio::sync::Notify;

use crate::oauth::OAuthState;
use crate::oidc::key_ring;
use crate::outbound::CALL_TIMEOUT;
use crate::{App, Result};

/// How many deliveries one pass claims, and sends at once.
const BATCH: u32 = 16;

/// How long a claim keeps other nodes off a delivery: longer than a call may take.
const LEASE: i64 = 3 * CALL_TIMEOUT.as_secs() as i64;

/// How often a node looks for deliveries that another node queued or that came due.
const POLL: Duration = Duration::from_secs(2);

/// Sends logout tokens; one per process.
pub struct Deliverer {
    app: App,
    oauth: OAuthState,
}

/// How this process's deliveries went, for metrics: counters only, read when scraped.
#[derive(Debug, Default)]
pub struct LogoutCounts {
    delivered: AtomicU64,
    failed: AtomicU64,
    given_up: AtomicU64,
}

impl LogoutCounts {
    /// Each outcome (`delivered`; `failed`, to be tried again; `given_up`) and its count.
    pub fn snapshot(&self) -> [(&'static str, u64); 3] {
        [
            ("delivered", self.delivered.load(Ordering::Relaxed)),
            ("failed", self.failed.load(Ordering::Relaxed)),
            ("given_up", self.given_up.load(Ordering::Relaxed)),
        ]
    }

    fn count(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Delivered => &self.delivered,
            Outcome::Retry(_) => &self.failed,
            Outcome::GivenUp => &self.given_up,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Tried again from then.
    Retry(UnixTime),
    /// The last attempt failed, or the client takes logout tokens no more.
    GivenUp,
}

impl Deliverer {
    pub fn new(app: App, oauth: OAuthState) -> Self {
        Self { app, oauth }
    }

    /// Sends what is due now (at most a batch); how each went.
    pub async fn deliver_due(&self) -> Result<Vec<(LogoutDelivery, Outcome)>> {
        let now = self.app.now();
        let store = self.app.store();
        let due = store.claim_logouts(now, now + LEASE, BATCH).await?;
        let counts = self.app.logout_counts();
        let sends = due.into_iter().map(|delivery| {
            let counts = Arc::clone(&counts);
            async move {
                let outcome = self.deliver(&delivery).await?;
                counts.count(&outcome);
                Ok((delivery, outcome))
            }
        });
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .collect()
    }

    /// Delivers until nothing is due, then waits for `wake` (this node ended a session) or the
    /// next poll; for ever.
    pub async fn run(self, wake: Arc<Notify>) {
        loop {
            match self.deliver_due().await {
                Ok(sent) if sent.len() == BATCH as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "back-channel logouts could not be sent"),
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn deliver(&self, delivery: &LogoutDelivery) -> Result<Outcome> {
        let store = self.app.store();
        let now = self.app.now();
        let client = match ClientId::parse(&delivery.client_id) {
            Ok(id) => store.client(&id).await?,
            Err(_) => None,
        };
        let Some((client, uri)) = client.and_then(|c| {
            let uri = c.backchannel_logout_uri.clone()?;
            Some((c, uri))
        }) else {
            // Its URI was removed since the session ended (a deleted client takes its queue).
            let event = self.event(
                "backchannel_logout.dropped",
                delivery,
                json!({
                    "reason": "the client has no back-channel logout URI any more",
                }),
            );
            store.finish_logout(delivery.id, &event).await?;
            return Ok(Outcome::GivenUp);
        };
        let answer = match self.logout_token(&client, delivery, now).await {
            Ok(token) => self.post(uri.as_str(), &token).await,
            Err(e) => Err(format!("signing failed: {e}")),
        };
        let now = self.app.now();
        match answer {
            Ok(status) => {
                let event = self.event(
                    "backchannel_logout.delivered",
                    delivery,
                    json!({
                        "uri": uri.as_str(),
                        "status": status,
                    }),
                );
                store.finish_logout(delivery.id, &event).await?;
                Ok(Outcome::Delivered)
            }
            Err(error) => match next_attempt(delivery.attempts, now) {
                Some(at) => {
                    let event = self.event(
                        "backchannel_logout.failed",
                        delivery,
                        json!({
                            "uri": uri.as_str(),
                            "error": error,
                            "next_attempt_at": at,
                        }),
                    );
                    store.retry_logout(delivery.id, at, &error, &event).await?;
                    Ok(Outcome::Retry(at))
                }
                None => {
                    let event = self.event(
                        "backchannel_logout.abandoned",
                        delivery,
                        json!({
                            "uri": uri.as_str(),
                            "error": error,
                        }),
                    );
                    store.finish_logout(delivery.id, &event).await?;
                    tracing::warn!(
                        client_id = %delivery.client_id,
                        attempts = delivery.attempts,
                        %error,
                        "gave up delivering a back-channel logout"
                    );
                    Ok(Outcome::GivenUp)
                }
            },
        }
    }

    /// The logout token, signed afresh for each attempt (its `jti` stays).
    async fn logout_token(
        &self,
        client: &Client,
        delivery: &LogoutDelivery,
        now: UnixTime,
    ) -> Result<String> {
        let claims = LogoutTokenClaims::new(
            &self.oauth.issuer,
            client.client_id.as_str(),
            &delivery.subject,
            &delivery.sid,
            &delivery.jti,
            now,
        );
        let keys = key_ring(self.app.store(), &self.oauth).await?;
        keys.sign(client.signing_alg, LOGOUT_TOKEN_TYPE, &claims)
    }

    /// POSTs the token as §2.5 says (a form with `logout_token`): the status when it is 2xx,
    /// else what went wrong.
    async fn post(&self, uri: &str, token: &str) -> std::result::Result<u16, String> {
        let sent = self
            .app
            .http()
            .await
            .post(uri)
            .form(&[("logout_token", token)])
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = sent.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(format!("answered {status}"))
        }
    }

    fn event(
        &self,
        name: &str,
        delivery: &LogoutDelivery,
        mut detail: serde_json::Value,
    ) -> heliogate_store::AuditEvent {
        if let Some(fields) = detail.as_object_mut() {
            fields.insert("client_id".into(), json!(delivery.client_id));
            fields.insert("sid".into(), json!(delivery.sid));
            fields.insert("jti".into(), json!(delivery.jti));
            fields.insert("attempt".into(), json!(delivery.attempts));
        }
        heliogate_store::AuditEvent {
            at: self.app.now(),
            event: name.into(),
            actor: Some("heliogate".into()),
            subject: Some(delivery.subject.clone()),
            client_addr: None,
            detail,
        }
    }
}

/// A failed call in words, with its cause (reqwest's own message stops at "error sending
/// request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
