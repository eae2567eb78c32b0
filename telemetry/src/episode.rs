//! A backend that fails is told once per episode, not once per retry: an error line naming the
//! backend and the cause when it starts failing (or fails for a new reason), an info line when it
//! works again. Retries happen many times a second under an outage; a line each would bury the
//! cause, and at debug level (where client libraries put it) an operator never sees it.

use std::sync::Mutex;

#[derive(Debug)]
pub struct Episode {
    backend: &'static str,
    /// The cause being reported, while failing.
    failing: Mutex<Option<String>>,
}

impl Episode {
    pub const fn new(backend: &'static str) -> Episode {
        Episode {
            backend,
            failing: Mutex::new(None),
        }
    }

    /// A call failed because of `cause` (which must hold no secret): an error line when this
    /// starts an episode or changes its cause.
    pub fn failed(&self, cause: &str) {
        let Ok(mut failing) = self.failing.lock() else {
            return;
        };
        if failing.as_deref() != Some(cause) {
            tracing::error!(
                backend = self.backend,
                cause,
                "{} is failing: {cause}",
                self.backend
            );
            *failing = Some(cause.to_owned());
        }
    }

    /// A call worked: ends the episode, if any, with an info line.
    pub fn succeeded(&self) {
        let Ok(mut failing) = self.failing.lock() else {
            return;
        };
        if failing.take().is_some() {
            tracing::info!(backend = self.backend, "{} works again", self.backend);
        }
    }

    /// Whether an episode is under way, and why.
    pub fn cause(&self) -> Option<String> {
        self.failing.lock().ok().and_then(|f| f.clone())
    }
}

/// An error and its sources, `: `-separated: the cause a client library buries (rustls's
/// "invalid peer certificate: UnknownIssuer" under "error sending request").
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
