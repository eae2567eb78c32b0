//! Pusher's private-channel signature: `auth = key + ":" + hex(HMAC-SHA256(secret,
//! socket_id + ":" + channel))`. `POST /broadcasting/auth` signs; the socket checks, in constant
//! time. The signature names the socket, so one taken from another connection is refused.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The app's key and secret (`BROADCAST_APP_KEY`, `BROADCAST_APP_SECRET`).
pub struct Signer {
    key: String,
    secret: SecretString,
}

impl Signer {
    pub fn new(key: &str, secret: SecretString) -> Signer {
        Signer {
            key: key.to_owned(),
            secret,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `auth` value a client sends to join `channel` on socket `socket_id`.
    pub fn sign(&self, socket_id: &str, channel: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes()) {
            Ok(mac) => mac,
            // HMAC takes a key of any length.
            Err(_) => return String::new(),
        };
        mac.update(socket_id.as_bytes());
        mac.update(b":");
        mac.update(channel.as_bytes());
        format!("{}:{}", self.key, hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `auth` is this app's signature for `channel` on `socket_id`.
    pub fn verify(&self, socket_id: &str, channel: &str, auth: &str) -> bool {
        let expected = self.sign(socket_id, channel);
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(auth.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pushers_documented_example() {
        // https://pusher.com/docs/channels/library_auth_reference/auth-signatures/
        let signer = Signer::new(
            "278d425bdf160c739803",
            SecretString::from("7ad3773142a6692b25b8"),
        );
        let auth = signer.sign("1234.1234", "private-foobar");
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert!(signer.verify("1234.1234", "private-foobar", &auth));
        assert!(!signer.verify("1234.1235", "private-foobar", &auth));
    }
}
