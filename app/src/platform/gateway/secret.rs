//! Defence in depth behind Kong: the shared secret Kong adds to every upstream request.
//!
//! The service trusts Kong's consumer headers because only Kong can reach it, which Istio's mesh
//! policy enforces. Should that policy ever be missing or wrong (a port-forward, a debug pod, a
//! mis-scoped AuthorizationPolicy), anyone who reaches a pod could claim any tenant by sending
//! the headers themselves. With GATEWAY_SECRET set, a `/v1` request must also carry
//! `X-Gateway-Secret` with that value, which only Kong knows (its request-transformer plugin adds
//! it, from its vault), or it is refused with 401 before any header is believed.
//!
//! The value (at least 32 characters; an empty one means none) is compared by its SHA-256 in
//! constant time (`subtle`), never logged, and hidden from `--help` and `Debug`. Without it, a
//! production start logs a warning saying what is then trusted.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::platform::error::{Error, Result};

pub const HEADER: &str = "X-Gateway-Secret";

/// Shortest secret accepted: anything shorter can be guessed.
pub const MIN_LENGTH: usize = 32;

/// The configured secret, checked at start: empty (as a template may leave it) means none; a
/// short one is refused.
pub fn configured(secret: Option<&SecretString>) -> Result<Option<&SecretString>> {
    match secret {
        Some(s) if s.expose_secret().is_empty() => Ok(None),
        Some(s) if s.expose_secret().len() < MIN_LENGTH => Err(Error::Config(format!(
            "GATEWAY_SECRET must be at least {MIN_LENGTH} characters"
        ))),
        other => Ok(other),
    }
}

/// Refuses a request whose secret is missing or wrong, when a secret is configured. Digests
/// are compared, in constant time, so neither the secret nor its length can be timed.
pub fn check(expected: Option<&SecretString>, sent: Option<&str>) -> Result<()> {
    let Some(expected) = expected.filter(|e| !e.expose_secret().is_empty()) else {
        return Ok(());
    };
    let digest = |s: &[u8]| Sha256::digest(s);
    let wanted = digest(expected.expose_secret().as_bytes());
    let matches = sent.is_some_and(|sent| bool::from(digest(sent.as_bytes()).ct_eq(&wanted)));
    if matches {
        Ok(())
    } else {
        Err(Error::Unauthenticated(format!(
            "{HEADER} is missing or wrong: call through the API gateway"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_passes() {
        let secret = SecretString::from("s3cret-from-vault-0123456789abcdef");
        assert!(check(None, None).is_ok());
        assert!(check(Some(&secret), Some("s3cret-from-vault-0123456789abcdef")).is_ok());
        for wrong in [
            None,
            Some(""),
            Some("s3cret"),
            Some("s3cret-from-vault-0123456789abcdef "),
        ] {
            assert!(check(Some(&secret), wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn an_empty_secret_is_none_and_a_short_one_refused() {
        let empty = SecretString::from("");
        assert!(matches!(configured(Some(&empty)), Ok(None)));
        assert!(check(Some(&empty), Some("")).is_ok(), "empty means unset");
        assert!(configured(Some(&SecretString::from("short"))).is_err());
    }
}
