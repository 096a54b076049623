//! The open connections: how many, and which have waited longest with no request in
//! progress (the first to go when a newcomer needs the place, and closed once they have waited
//! longer than a request's headers may take).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body::Frame;
use pin_project_lite::pin_project;
use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Connections {
    max: usize,
    /// When the registry began: times are kept as milliseconds since.
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Entry>>>,
    next: AtomicU64,
}

/// One connection's state, changed without the registry's lock (twice a request).
#[derive(Debug)]
struct Entry {
    /// Requests in progress (a response body still being sent counts).
    busy: AtomicUsize,
    /// Since when nothing is in progress, in milliseconds since the epoch.
    waiting_since: AtomicU64,
    evict: Notify,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            epoch: Instant::now(),
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for a new connection: a free one, or the place of the connection that has
    /// waited longest with nothing in progress (told to close). `None` when every connection
    /// is serving a request.
    pub fn admit(self: &Arc<Self>) -> Option<Arc<Slot>> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= self.max {
            let idlest = open
                .iter()
                .filter(|(_, e)| e.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, e)| e.waiting_since.load(Ordering::Acquire))
                .map(|(id, _)| *id)?;
            if let Some(entry) = open.remove(&idlest) {
                entry.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            busy: AtomicUsize::new(0),
            waiting_since: AtomicU64::new(self.now()),
            evict: Notify::new(),
        });
        open.insert(id, Arc::clone(&entry));
        Some(Arc::new(Slot {
            id,
            connections: Arc::clone(self),
            entry,
        }))
    }

    /// Tells every connection that has waited longer than `timeout` with nothing in progress to
    /// close: an idle keep-alive connection, one whose request's headers are overdue, or one
    /// whose client has not taken its answer in that time.
    pub fn close_overdue(&self, timeout: Duration) {
        let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.close_waiting_before(self.now().saturating_sub(timeout));
    }

    /// Tells every connection waiting with nothing in progress since before `cutoff` to close.
    fn close_waiting_before(&self, cutoff: u64) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.retain(|_, entry| {
            let overdue = entry.busy.load(Ordering::Acquire) == 0
                && entry.waiting_since.load(Ordering::Acquire) < cutoff;
            if overdue {
                entry.evict.notify_one();
            }
            !overdue
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }
}

/// One connection's place; given back when the connection ends.
#[derive(Debug)]
pub(crate) struct Slot {
    id: u64,
    connections: Arc<Connections>,
    entry: Arc<Entry>,
}

impl Slot {
    /// Resolves when the connection is to close now: a newcomer took its place, or it waited
    /// too long (`Connections::close_overdue`).
    pub async fn evicted(&self) {
        self.entry.evict.notified().await;
    }

    /// Marks a request in progress until the guard goes.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.entry.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(Arc::clone(self))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// A request in progress on a connection.
#[derive(Debug)]
pub(crate) struct BusyGuard(Arc<Slot>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let slot = &self.0;
        slot.entry
            .waiting_since
            .store(slot.connections.now(), Ordering::Release);
        slot.entry.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project! {
    /// A response body that keeps its request in progress until it is sent (or dropped): a
    /// long response, such as the revocation feed, is never taken for an idle connection.
    pub(crate) struct Busy {
        #[pin]
        body: Body,
        guard: BusyGuard,
    }
}

impl Busy {
    pub fn new(body: Body, guard: BusyGuard) -> Self {
        Self { body, guard }
    }
}

impl http_body::Body for Busy {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_bound_the_idlest_connection_gives_way_unless_all_are_busy() {
        let connections = Connections::new(2);
        let first = connections.admit().unwrap();
        let second = connections.admit().unwrap();
        let _serving = second.busy();
        // The first has nothing in progress: it is told to go, and the newcomer gets in.
        let third = connections.admit().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), first.evicted())
            .await
            .unwrap();
        assert_eq!(connections.len(), 2);
        // Now both are serving: a newcomer is refused.
        let also_serving = third.busy();
        assert!(connections.admit().is_none());
        drop(also_serving);
        drop(third);
        assert_eq!(connections.len(), 1);
        assert!(connections.admit().is_some());
    }

    #[tokio::test]
    async fn a_connection_waiting_past_the_cutoff_is_closed_unless_serving() {
        let connections = Connections::new(8);
        let waiting = connections.admit().unwrap();
        let serving = connections.admit().unwrap();
        let guard = serving.busy();
        let admitted = connections.now();
        // Nothing has waited since before it was admitted.
        connections.close_waiting_before(admitted);
        assert_eq!(connections.len(), 2);
        connections.close_waiting_before(u64::MAX);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiting.evicted())
            .await
            .unwrap();
        // A request in progress is never cut short, however long it has taken.
        assert_eq!(connections.len(), 1);
        // Once answered, the connection waits again from then.
        drop(guard);
        connections.close_waiting_before(admitted);
        assert_eq!(connections.len(), 1);
        connections.close_waiting_before(u64::MAX);
        assert_eq!(connections.len(), 0);
        tokio::time::timeout(std::time::Duration::from_secs(1), serving.evicted())
            .await
            .unwrap();
    }
}
