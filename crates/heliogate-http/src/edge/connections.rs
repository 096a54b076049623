//! The open connections: how many, and which have waited longest with no request in
//! progress (the first to go when a newcomer needs the place).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use http_body::Frame;
use pin_project_lite::pin_project;
use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Connections {
    max: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    /// Requests in progress (a response body still being sent counts).
    busy: usize,
    /// Since when nothing is in progress.
    waiting_since: Instant,
    evict: Arc<Notify>,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for a new connection: a free one, or the place of the connection that has
    /// waited longest with nothing in progress (told to close). `None` when every connection
    /// is serving a request.
    pub fn admit(self: &Arc<Self>) -> Option<Arc<Slot>> {
        let mut open = self.open.lock().ok()?;
        if open.by_id.len() >= self.max {
            let idlest = open
                .by_id
                .iter()
                .filter(|(_, e)| e.busy == 0)
                .min_by_key(|(_, e)| e.waiting_since)
                .map(|(id, _)| *id)?;
            if let Some(entry) = open.by_id.remove(&idlest) {
                entry.evict.notify_one();
            }
        }
        let id = open.next;
        open.next += 1;
        let evict = Arc::new(Notify::new());
        open.by_id.insert(
            id,
            Entry {
                busy: 0,
                waiting_since: Instant::now(),
                evict: Arc::clone(&evict),
            },
        );
        Some(Arc::new(Slot {
            id,
            connections: Arc::clone(self),
            evict,
        }))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().map_or(0, |o| o.by_id.len())
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut Entry)) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(entry) = open.by_id.get_mut(&id) {
                change(entry);
            }
        }
    }
}

/// One connection's place; given back when the connection ends.
#[derive(Debug)]
pub(crate) struct Slot {
    id: u64,
    connections: Arc<Connections>,
    evict: Arc<Notify>,
}

impl Slot {
    /// Resolves when a newcomer took this connection's place: it is to close now.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Marks a request in progress until the guard goes.
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.connections.update(self.id, |e| e.busy += 1);
        BusyGuard(Arc::clone(self))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.by_id.remove(&self.id);
        }
    }
}

/// A request in progress on a connection.
#[derive(Debug)]
pub(crate) struct BusyGuard(Arc<Slot>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.connections.update(self.0.id, |e| {
            e.busy = e.busy.saturating_sub(1);
            e.waiting_since = Instant::now();
        });
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
}
