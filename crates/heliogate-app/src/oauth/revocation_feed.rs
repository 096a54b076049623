//! The revocation feed: resource servers that cache token checks, or verify JWT access
//! tokens offline, learn within moments which tokens ended before their expiry — revoked,
//! their user disabled or deleted, their consent withdrawn, their client deleted.
//!
//! The store numbers every such token in commit order (`TokenStore::revoked_after`). One
//! poller per node reads what is new while anyone listens and hands it to every subscriber;
//! a subscriber first catches up from the store (everything still unexpired, or what follows
//! the entry it saw last), then follows the poller. Entries name a token by its SHA-256, which
//! the resource server computes from the token it holds and which rebuilds no token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heliogate_core::oauth::{OAuthError, OAuthErrorCode};
use heliogate_store::{RevokedToken, Store};
use tokio::sync::{broadcast, mpsc, watch};

use super::client_auth::{authenticate, AuthenticatedClient, ClientCredentials};
use super::{OAuthResult, OAuthState};
use crate::now;

/// How often the poller reads the store while anyone listens: revocations reach subscribers
/// within this, plus a commit and a network hop.
pub const FEED_POLL: Duration = Duration::from_millis(20);

/// How many entries one read takes, and one event carries at most.
const PAGE: u32 = 500;

/// How many batches a subscriber may fall behind the poller before it reads the store again.
const BACKLOG: usize = 64;

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// Tokens ended, oldest first; the last one's `seq` is where a reconnection goes on.
    Revoked(Arc<[RevokedToken]>),
    /// The subscriber has everything up to now: from here on, entries come as they commit.
    CaughtUp,
}

/// The feed of one node.
pub struct RevocationFeed {
    store: Arc<dyn Store>,
    batches: broadcast::Sender<Arc<[RevokedToken]>>,
    /// Whether the poller runs (it stops when nobody listens).
    polling: Mutex<bool>,
    /// The last entry the poller read, kept while it rests.
    polled: AtomicI64,
    /// Set when the server stops: every subscription ends, so that no request stays open.
    closed: watch::Sender<bool>,
    /// Streams open, by client: each costs a connection and a task, so they are bounded.
    streams: Mutex<HashMap<String, usize>>,
    max_streams: usize,
    max_streams_per_client: usize,
}

/// Why a subscription was refused: this client, or the node, follows as many streams as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFull {
    Client(usize),
    Node(usize),
}

/// One subscriber's stream: items until the store fails or the server stops; dropping it ends
/// the subscription and gives its place back.
#[derive(Debug)]
pub struct Subscription {
    items: mpsc::Receiver<FeedItem>,
    _place: StreamPlace,
}

impl Subscription {
    pub async fn recv(&mut self) -> Option<FeedItem> {
        self.items.recv().await
    }
}

#[derive(Debug)]
struct StreamPlace {
    feed: Arc<RevocationFeed>,
    client_id: String,
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        if let Ok(mut streams) = self.feed.streams.lock() {
            if let Some(open) = streams.get_mut(&self.client_id) {
                *open = open.saturating_sub(1);
                if *open == 0 {
                    streams.remove(&self.client_id);
                }
            }
        }
    }
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("subscribers", &self.batches.receiver_count())
            .finish()
    }
}

/// Who may follow the feed: a confidential client that may introspect other clients' tokens
/// (`client add --introspect`: a resource server), since it learns about every client's.
pub async fn authorize_subscriber(
    store: &dyn Store,
    config: &OAuthState,
    credentials: &ClientCredentials,
    addr: Option<&str>,
) -> OAuthResult<AuthenticatedClient> {
    let auth = authenticate(store, config, credentials, addr).await?;
    if !auth.confidential {
        return Err(OAuthError::invalid_client("the feed needs a confidential client").into());
    }
    if !auth.client.introspect {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "only a client registered with --introspect may follow the revocation feed",
        )
        .into());
    }
    Ok(auth)
}

impl RevocationFeed {
    /// A node's feed, following at most `max_streams` streams, `max_streams_per_client` of
    /// them for one client.
    pub fn new(
        store: Arc<dyn Store>,
        max_streams: usize,
        max_streams_per_client: usize,
    ) -> Arc<Self> {
        let (batches, _) = broadcast::channel(BACKLOG);
        Arc::new(Self {
            store,
            batches,
            polling: Mutex::new(false),
            polled: AtomicI64::new(0),
            closed: watch::Sender::new(false),
            streams: Mutex::new(HashMap::new()),
            max_streams,
            max_streams_per_client,
        })
    }

    /// Takes a stream's place for `client_id`, if the bounds leave one.
    fn place(self: &Arc<Self>, client_id: &str) -> Result<StreamPlace, FeedFull> {
        let mut streams = self
            .streams
            .lock()
            .map_err(|_| FeedFull::Node(self.max_streams))?;
        let open: usize = streams.values().sum();
        if open >= self.max_streams {
            return Err(FeedFull::Node(self.max_streams));
        }
        let mine = streams.entry(client_id.to_owned()).or_insert(0);
        if *mine >= self.max_streams_per_client {
            return Err(FeedFull::Client(self.max_streams_per_client));
        }
        *mine += 1;
        Ok(StreamPlace {
            feed: Arc::clone(self),
            client_id: client_id.to_owned(),
        })
    }

    /// Ends every subscription, now and to come: the server is stopping.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// `client_id` follows the feed after entry `after` (0: every token ended and not yet
    /// expired), unless it or this node already follows as many streams as they may.
    pub fn subscribe(
        self: &Arc<Self>,
        client_id: &str,
        after: i64,
    ) -> Result<Subscription, FeedFull> {
        let place = self.place(client_id)?;
        // Listening before catching up: what commits meanwhile comes by one way or the other,
        // and the subscriber drops what it has seen.
        let live = self.batches.subscribe();
        self.ensure_polling();
        let (sender, receiver) = mpsc::channel(4);
        let feed = Arc::clone(self);
        tokio::spawn(async move { feed.serve(after, live, sender).await });
        Ok(Subscription {
            items: receiver,
            _place: place,
        })
    }

    async fn serve(
        &self,
        mut last: i64,
        mut live: broadcast::Receiver<Arc<[RevokedToken]>>,
        sender: mpsc::Sender<FeedItem>,
    ) {
        let mut closed = self.closed.subscribe();
        loop {
            if *closed.borrow_and_update() {
                return;
            }
            // Catch up from the store.
            loop {
                let entries = match self.store.revoked_after(last, now(), PAGE).await {
                    Ok(entries) => entries,
                    Err(e) => {
                        tracing::warn!(error = %e, "revocation feed: the store failed");
                        return;
                    }
                };
                let Some(newest) = entries.last() else { break };
                last = newest.seq;
                if sender
                    .send(FeedItem::Revoked(entries.into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if sender.send(FeedItem::CaughtUp).await.is_err() {
                return;
            }
            // Then follow the poller until it outruns this subscriber.
            loop {
                let batch = tokio::select! {
                    batch = live.recv() => batch,
                    () = sender.closed() => return,
                    _ = closed.changed() => return,
                };
                match batch {
                    Ok(batch) => {
                        let fresh: Vec<RevokedToken> =
                            batch.iter().filter(|e| e.seq > last).cloned().collect();
                        let Some(newest) = fresh.last() else { continue };
                        last = newest.seq;
                        if sender.send(FeedItem::Revoked(fresh.into())).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }

    fn ensure_polling(self: &Arc<Self>) {
        let Ok(mut polling) = self.polling.lock() else {
            return;
        };
        if *polling {
            return;
        }
        *polling = true;
        let feed = Arc::clone(self);
        tokio::spawn(async move { feed.poll().await });
    }

    /// Reads what is new every `FEED_POLL` and hands it to the subscribers, until there are
    /// none. A failed read is tried again at the next tick: subscribers wait, nothing is lost.
    async fn poll(&self) {
        let mut last = self.polled.load(Ordering::Relaxed);
        let mut ticks = tokio::time::interval(FEED_POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            {
                let Ok(mut polling) = self.polling.lock() else {
                    return;
                };
                if self.batches.receiver_count() == 0 {
                    self.polled.store(last, Ordering::Relaxed);
                    *polling = false;
                    return;
                }
            }
            loop {
                match self.store.revoked_after(last, now(), PAGE).await {
                    Ok(entries) => {
                        let Some(newest) = entries.last() else { break };
                        last = newest.seq;
                        // Sent to nobody only if every subscriber left meanwhile.
                        let _ = self.batches.send(entries.into());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "revocation feed: the store failed");
                        break;
                    }
                }
            }
        }
    }
}
