//! Following heliogate's revocation feed (server-sent events at `/oauth/revocations`): every
//! token ended before its expiry, by the SHA-256 of the token, as its revocation commits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::check::{now, Remote};
use crate::token_cache::Key;
use crate::Counters;

/// heliogate sends a comment every 15 s: silence for longer means the connection is gone.
const SILENCE: Duration = Duration::from_secs(35);

/// The first wait before a reconnection, doubled up to `MAX_BACKOFF`.
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The longest line the feed may send (an event carries at most 500 entries).
const MAX_LINE: usize = 1 << 20;

/// Tokens the feed named, until they would have expired.
#[derive(Default)]
pub(crate) struct RevokedSet {
    tokens: RwLock<HashMap<Key, u64>>,
}

impl RevokedSet {
    pub(crate) fn contains(&self, key: &Key) -> bool {
        let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
        !tokens.is_empty() && tokens.get(key).is_some_and(|exp| *exp > now())
    }

    fn add(&self, entries: impl IntoIterator<Item = (Key, u64)>) {
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        tokens.extend(entries);
    }

    fn forget_expired(&self) {
        let now = now();
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        tokens.retain(|_, exp| *exp > now);
    }
}

/// The feed's connection, followed by a task of its own while the guard lives.
pub(crate) struct Feed {
    live: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Deserialize)]
struct Entry {
    sha256: String,
    exp: u64,
}

struct Follower {
    http: reqwest::Client,
    endpoint: String,
    remote: Arc<Remote>,
    revoked: Arc<RevokedSet>,
    stats: Arc<Counters>,
    live: watch::Sender<bool>,
    /// The last entry seen: a reconnection goes on after it.
    last_id: Option<String>,
}

impl Feed {
    pub(crate) fn start(
        remote: Arc<Remote>,
        endpoint: String,
        revoked: Arc<RevokedSet>,
        stats: Arc<Counters>,
    ) -> Arc<Feed> {
        let (live, receiver) = watch::channel(false);
        // The feed's response never ends: no overall timeout, only one to connect.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| remote.http.clone());
        let follower = Follower {
            http,
            endpoint,
            remote,
            revoked,
            stats,
            live,
            last_id: None,
        };
        Arc::new(Feed {
            live: receiver,
            task: tokio::spawn(follower.run()),
        })
    }

    pub(crate) fn is_live(&self) -> bool {
        *self.live.borrow()
    }

    pub(crate) async fn ready(&self, within: Duration) -> bool {
        let mut live = self.live.clone();
        tokio::time::timeout(within, live.wait_for(|live| *live))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Follower {
    async fn run(mut self) {
        let mut backoff = BACKOFF;
        loop {
            let connected = Instant::now();
            match self.follow().await {
                Ok(()) => {
                    tracing::info!("heliogate-guard: the revocation feed ended; reconnecting")
                }
                Err(why) => tracing::warn!("heliogate-guard: revocation feed: {why}"),
            }
            self.live.send_replace(false);
            if connected.elapsed() > MAX_BACKOFF {
                backoff = BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection, until it ends or falls silent.
    async fn follow(&mut self) -> Result<(), String> {
        let mut request = self
            .remote
            .with_client(self.http.get(&self.endpoint))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = &self.last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!(
                "refused with {} (is the client registered with --introspect?)",
                response.status()
            ));
        }
        let mut body = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        let mut event = Event::default();
        loop {
            let chunk = match tokio::time::timeout(SILENCE, body.next()).await {
                Err(_) => return Err("silent for too long".into()),
                Ok(None) => return Ok(()),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(chunk))) => chunk,
            };
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    self.dispatch(std::mem::take(&mut event));
                } else {
                    event.field(line);
                }
            }
            if buffer.len() > MAX_LINE {
                return Err("a line longer than the feed sends".into());
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event.kind.as_str() {
            "ready" => {
                self.revoked.forget_expired();
                self.live.send_replace(true);
            }
            "revoked" => {
                let Ok(entries) = serde_json::from_str::<Vec<Entry>>(&event.data) else {
                    tracing::warn!("heliogate-guard: an unreadable revocation event");
                    return;
                };
                let named = entries.iter().filter_map(|e| {
                    let bytes = URL_SAFE_NO_PAD.decode(&e.sha256).ok()?;
                    Some((Key::try_from(bytes.as_slice()).ok()?, e.exp))
                });
                let named: Vec<(Key, u64)> = named.collect();
                self.stats
                    .feed_revocations
                    .fetch_add(named.len() as u64, std::sync::atomic::Ordering::Relaxed);
                self.revoked.add(named);
                if let Some(id) = event.id {
                    self.last_id = Some(id);
                }
            }
            _ => {}
        }
    }
}

/// An event as its lines arrive (the parts of the SSE format heliogate uses).
#[derive(Default)]
struct Event {
    kind: String,
    data: String,
    id: Option<String>,
}

impl Event {
    fn field(&mut self, line: &str) {
        if line.starts_with(':') {
            return; // a comment: heliogate's keep-alive
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "event" => self.kind = value.to_owned(),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
    }
}
