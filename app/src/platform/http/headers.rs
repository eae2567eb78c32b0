//! Headers poem would read as absent. A header value with a byte outside visible ASCII (UTF-8
//! `résumé-1`, say) is not text to poem, and an optional header parameter that is not text is
//! `None`: an Idempotency-Key sent that way would be dropped, and the retry it was meant to make
//! safe would bind twice. Each such header is checked here first, and refused.

use poem::Request;

use crate::platform::error::Error;

/// 400 naming `name` if the request carries it with bytes that are not visible ASCII.
pub fn readable(req: &Request, name: &str) -> Result<(), Error> {
    match req.headers().get(name).map(|v| v.to_str()) {
        Some(Err(_)) => Err(Error::bad_request(
            Some(name),
            "must be visible ASCII characters (no accented letters: percent-encode them)",
        )),
        _ => Ok(()),
    }
}
