//! Defence in depth behind Kong: the shared secret Kong adds to every upstream request.
//!
//! The service trusts Kong's consumer headers because only Kong can reach it, which Istio's mesh
//! policy enforces. Should that policy ever be missing or wrong (a port-forward, a debug pod, a
//! mis-scoped AuthorizationPolicy), anyone who reaches a pod could claim any tenant by sending
//! the headers themselves. With GATEWAY_SECRET set, a `/v1` request must also carry
//! `X-Gateway-Secret` with that value, which only Kong knows (its request-transformer plugin adds
//! it, from its vault), or it is refused with 401 before any header is believed.
//!
//! The value is compared in constant time (`subtle`), never logged, and hidden from `--help` and
//! `Debug`. Without it, a production start logs a warning saying what is then trusted.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

pub const HEADER: &str = "X-Gateway-Secret";

/// Refuses a request whose secret is missing or wrong, when a secret is configured.
pub fn check(expected: Option<&SecretString>, sent: Option<&str>) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let matches = sent
        .is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(expected.expose_secret().as_bytes())));
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
        let secret = SecretString::from("s3cret-from-vault");
        assert!(check(None, None).is_ok());
        assert!(check(Some(&secret), Some("s3cret-from-vault")).is_ok());
        for wrong in [
            None,
            Some(""),
            Some("s3cret"),
            Some("s3cret-from-vault "),
            Some("S3CRET-FROM-VAULT"),
        ] {
            assert!(check(Some(&secret), wrong).is_err(), "{wrong:?}");
        }
    }
}
