//! A service's channels, as its domain declares them: which names a client may subscribe to,
//! and which committed events go on which channels with what payload. The platform signs,
//! subscribes and fans out; it never reads a channel's name for its meaning.

use serde_json::Value;

use crate::platform::outbox::Event;

/// The longest channel name accepted (Pusher's limit is 164 characters).
pub const MAX_NAME: usize = 164;

pub trait Channels: Send + Sync + 'static {
    /// The canonical wire name of the channel a client named, where its broadcasts go; `None`
    /// for a name that is not one of the service's channels.
    fn canonical(&self, name: &str) -> Option<String>;

    /// The channels (wire names) a committed event of `tenant` goes on, and its payload; `None`
    /// for an event that is not broadcast.
    fn of(&self, event: &Event, tenant: &str) -> Option<(Vec<String>, Value)>;

    /// What a client that named no such channel is told, e.g. "only private-tenant.*".
    fn which(&self) -> &'static str;
}
