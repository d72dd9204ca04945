//! Everything the server holds behind its one lock, and the reset registry.
//!
//! Each part of the mock's mutable state implements [`Resettable`]. [`Shared::parts_mut`]
//! destructures [`Shared`] without `..`, so adding a field that is not also listed there (and
//! thereby reset by `POST /_aci-chaos/reset`) is a compile error: a reset cannot miss a part.

use crate::admin::LoggedRequest;
use crate::exec::Sessions;
use crate::world::World;
use std::collections::VecDeque;

/// A part of the mock's state that `reset` returns to how it was at start.
pub trait Resettable {
    /// The part's name, as the reset answer lists it.
    fn part_name(&self) -> &'static str;
    /// Returns the part to its start state (settings kept).
    fn reset(&mut self);
}

impl Resettable for World {
    fn part_name(&self) -> &'static str {
        "world"
    }
    fn reset(&mut self) {
        *self = World::new(self.config.clone());
    }
}

/// The most requests the request log keeps (oldest dropped first).
pub const REQUEST_LOG_LIMIT: usize = 10_000;

/// The request log: method, path and query, and status of each ARM request (never bodies, so
/// never a secret).
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: VecDeque<LoggedRequest>,
}

impl RequestLog {
    /// Appends an entry, dropping the oldest past [`REQUEST_LOG_LIMIT`].
    pub fn push(&mut self, entry: LoggedRequest) {
        if self.entries.len() >= REQUEST_LOG_LIMIT {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &LoggedRequest> {
        self.entries.iter()
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Resettable for RequestLog {
    fn part_name(&self) -> &'static str {
        "requests"
    }
    fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The most answers the read cache keeps before it starts over.
pub const READ_CACHE_LIMIT: usize = 4096;

/// Serialized answers to side-effect-free reads (a group, a list, the subscriptions), reused
/// while nothing can have changed them: the server empties it on every write, every admin call,
/// and whenever the world has a transition due (`World::next_event` ≤ now), so a cached answer is
/// always what the handler would compute again.
#[derive(Debug, Default)]
pub struct ReadCache {
    answers: std::collections::HashMap<String, (axum::http::StatusCode, axum::body::Bytes)>,
}

impl ReadCache {
    /// A cached answer.
    pub fn get(&self, key: &str) -> Option<(axum::http::StatusCode, axum::body::Bytes)> {
        self.answers.get(key).cloned()
    }

    /// Keeps an answer.
    pub fn put(&mut self, key: String, status: axum::http::StatusCode, body: axum::body::Bytes) {
        if self.answers.len() >= READ_CACHE_LIMIT {
            self.answers.clear();
        }
        self.answers.insert(key, (status, body));
    }

    /// Forgets every answer.
    pub fn clear(&mut self) {
        if !self.answers.is_empty() {
            self.answers.clear();
        }
    }
}

impl Resettable for ReadCache {
    fn part_name(&self) -> &'static str {
        "read-cache"
    }
    fn reset(&mut self) {
        self.answers.clear();
    }
}

/// The mock's whole mutable state.
#[derive(Debug)]
pub struct Shared {
    /// The simulated world.
    pub world: World,
    /// The request log.
    pub requests: RequestLog,
    /// Open exec/attach websocket sessions.
    pub sessions: Sessions,
    /// Serialized answers to reads, while nothing changed.
    pub cache: ReadCache,
}

impl Shared {
    /// A fresh state around a world.
    pub fn new(world: World) -> Self {
        Self { world, requests: RequestLog::default(), sessions: Sessions::default(), cache: ReadCache::default() }
    }

    /// Every resettable part. Exhaustive on purpose (see the module docs).
    pub fn parts_mut(&mut self) -> Vec<&mut dyn Resettable> {
        let Shared { world, requests, sessions, cache } = self;
        vec![world, requests, sessions, cache]
    }

    /// Resets every part; returns their names.
    pub fn reset(&mut self) -> Vec<&'static str> {
        self.parts_mut()
            .into_iter()
            .map(|p| {
                p.reset();
                p.part_name()
            })
            .collect()
    }
}
