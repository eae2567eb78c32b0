//! How many Pusher sockets and event streams are open, and whether one more may be.
//!
//! Sockets and streams have caps of their own, apart from each other and from the HTTP server's
//! request slots (which they do not hold: `server` gives a slot back when a connection upgrades
//! or becomes a stream). A socket is anonymous until it subscribes (the app key is public), so
//! sockets are capped per instance only; a stream is a tenant's from its first byte, so streams
//! are capped per instance (503) and per tenant (429), and one tenant cannot take them all.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

/// `BROADCAST_MAX_*`.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub sockets: usize,
    pub streams: usize,
    pub tenant_streams: usize,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Sockets,
    Streams,
    TenantStreams,
}

impl Refused {
    fn label(self) -> &'static str {
        match self {
            Refused::Sockets => "sockets",
            Refused::Streams => "streams",
            Refused::TenantStreams => "tenant_streams",
        }
    }
}

pub struct Admission {
    caps: Caps,
    sockets: AtomicUsize,
    streams: AtomicUsize,
    tenants: Mutex<HashMap<String, usize>>,
}

/// An open socket or stream, counted until dropped.
pub struct Admitted {
    admission: Arc<Admission>,
    /// The tenant of a stream; `None` for a socket.
    tenant: Option<String>,
}

impl Admission {
    pub fn new(caps: Caps) -> Arc<Admission> {
        describe();
        Arc::new(Admission {
            caps,
            sockets: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            tenants: Mutex::default(),
        })
    }

    fn tenants(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sockets and streams open now.
    pub fn open(&self) -> usize {
        self.sockets.load(Ordering::Acquire) + self.streams.load(Ordering::Acquire)
    }

    /// One more Pusher socket, unless `BROADCAST_MAX_CONNECTIONS` are open.
    pub fn socket(self: &Arc<Self>) -> Result<Admitted, Refused> {
        if !take(&self.sockets, self.caps.sockets) {
            return Err(refused(Refused::Sockets));
        }
        gauge("pusher", 1.0);
        Ok(Admitted {
            admission: self.clone(),
            tenant: None,
        })
    }

    /// One more event stream of `tenant`, unless the instance or the tenant is at its cap.
    pub fn stream(self: &Arc<Self>, tenant: &str) -> Result<Admitted, Refused> {
        {
            let mut tenants = self.tenants();
            let held = tenants.entry(tenant.to_owned()).or_default();
            if *held >= self.caps.tenant_streams {
                drop(tenants);
                return Err(refused(Refused::TenantStreams));
            }
            if !take(&self.streams, self.caps.streams) {
                if *held == 0 {
                    tenants.remove(tenant);
                }
                drop(tenants);
                return Err(refused(Refused::Streams));
            }
            *held += 1;
        }
        gauge("sse", 1.0);
        Ok(Admitted {
            admission: self.clone(),
            tenant: Some(tenant.to_owned()),
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let a = &self.admission;
        match &self.tenant {
            None => {
                a.sockets.fetch_sub(1, Ordering::AcqRel);
                gauge("pusher", -1.0);
            }
            Some(tenant) => {
                let mut tenants = a.tenants();
                if let Some(held) = tenants.get_mut(tenant) {
                    *held -= 1;
                    if *held == 0 {
                        tenants.remove(tenant);
                    }
                }
                a.streams.fetch_sub(1, Ordering::AcqRel);
                gauge("sse", -1.0);
            }
        }
    }
}

/// Takes one of `cap` places in `count`, if one is free.
fn take(count: &AtomicUsize, cap: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < cap).then_some(n + 1)
        })
        .is_ok()
}

fn gauge(protocol: &'static str, by: f64) {
    metrics::gauge!("broadcast_connections", "protocol" => protocol).increment(by);
}

fn refused(why: Refused) -> Refused {
    metrics::counter!("broadcast_refused_connections_total", "limit" => why.label()).increment(1);
    if let Some(suppressed) = REFUSED_LOG.admit() {
        tracing::warn!(
            limit = why.label(),
            suppressed,
            "broadcast connection refused: at its cap"
        );
    }
    why
}

/// Refusals come in floods when a cap binds: a line a second describes them.
static REFUSED_LOG: telemetry::throttle::Throttle = telemetry::throttle::Throttle::per_second(1);

fn describe() {
    metrics::describe_gauge!(
        "broadcast_connections",
        "Open broadcast connections of this process, by protocol"
    );
    metrics::describe_counter!(
        "broadcast_refused_connections_total",
        "Sockets and streams refused at a cap: sockets (BROADCAST_MAX_CONNECTIONS), streams (BROADCAST_MAX_STREAMS), tenant_streams (BROADCAST_MAX_TENANT_STREAMS)"
    );
    for protocol in ["pusher", "sse"] {
        metrics::gauge!("broadcast_connections", "protocol" => protocol).set(0.0);
    }
    for why in [Refused::Sockets, Refused::Streams, Refused::TenantStreams] {
        metrics::counter!("broadcast_refused_connections_total", "limit" => why.label())
            .absolute(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_binds_on_its_own_and_frees_on_drop() {
        let a = Admission::new(Caps {
            sockets: 1,
            streams: 3,
            tenant_streams: 2,
        });
        let socket = a.socket().ok();
        assert_eq!(a.socket().err(), Some(Refused::Sockets));
        let (s1, s2) = (a.stream("acme").ok(), a.stream("acme").ok());
        assert_eq!(a.stream("acme").err(), Some(Refused::TenantStreams));
        let other = a.stream("globex").ok();
        assert_eq!(a.stream("initech").err(), Some(Refused::Streams));
        assert_eq!(a.open(), 4);
        drop((socket, s1, s2, other));
        assert_eq!(a.open(), 0);
        assert!(
            a.tenants().is_empty(),
            "no tenant entry outlives its streams"
        );
        assert!(a.socket().is_ok() && a.stream("initech").is_ok());
    }
}
