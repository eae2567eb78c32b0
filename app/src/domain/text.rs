//! Free text and e-mail addresses, checked by the very regular expressions the OpenAPI document
//! publishes as their `pattern`. A fuzzer or a client validating against the document therefore
//! agrees with the server on every string: one that matches is accepted, one that does not is
//! refused. The expressions use only what ECMA-262, Python's `re` and Rust's `regex` read alike
//! (explicit `\x`/`\u` classes, never `\s`, whose meaning differs between them).
//!
//! - Control characters (Unicode `Cc`) are refused, except a line feed in free text.
//! - Free text with a minimum of 1 must hold a visible character: `"   "` is not a name. It is
//!   stored trimmed; the length bounds count the text as sent, in code points, as JSON Schema's
//!   `minLength`/`maxLength` do.
//! - An e-mail address is one `@` between a local part and a domain with a dot that neither
//!   starts nor ends it, with no white space anywhere. It is stored lower-case. It has no
//!   `format: email`: validators disagree on what that allows (non-ASCII domains, quoting), and
//!   the pattern says exactly what the server takes.

use std::{fmt, str::FromStr, sync::LazyLock};

use poem_openapi::registry::MetaSchema;
use regex::Regex;

use super::scalars::string_scalar;

/// Any text without control characters other than a line feed.
const ANY: &str = r"^[^\x00-\x09\x0B-\x1F\x7F-\x9F]*$";
/// The same, holding at least one character that is neither white space nor a control.
const VISIBLE: &str = r"^[^\x00-\x09\x0B-\x1F\x7F-\x9F]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\x00-\x09\x0B-\x1F\x7F-\x9F]*$";
/// `local@domain.tld`: no white space, controls or second `@`; the domain has an inner dot.
const EMAIL: &str = r"^[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@]+@[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@.][^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@]*\.[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@]*[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000@.]$";
/// The longest address SMTP carries (RFC 5321's path limit, less the angle brackets).
pub const EMAIL_MAX: usize = 254;

static ANY_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(ANY).ok());
static VISIBLE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(VISIBLE).ok());
static EMAIL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(EMAIL).ok());

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    // The expressions are constants, compiled in a unit test: `None` cannot happen.
    re.as_ref().is_some_and(|re| re.is_match(s))
}

/// Free text of `MIN` to `MAX` characters as sent, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MIN: usize, const MAX: usize>(String);

impl<const MIN: usize, const MAX: usize> Text<MIN, MAX> {
    const PATTERN: &'static str = if MIN == 0 { ANY } else { VISIBLE };

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MIN: usize, const MAX: usize> FromStr for Text<MIN, MAX> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if !(MIN..=MAX).contains(&s.chars().count()) {
            return Err(format!("must be {MIN} to {MAX} characters"));
        }
        let re = if MIN == 0 { &ANY_RE } else { &VISIBLE_RE };
        if !matches(re, s) {
            return Err(if MIN == 0 {
                "must not contain control characters".into()
            } else {
                "must hold visible text and no control characters".into()
            });
        }
        Ok(Text(s.trim().to_owned()))
    }
}

impl<const MIN: usize, const MAX: usize> fmt::Display for Text<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_scalar!(
    [const MIN: usize, const MAX: usize] Text<MIN, MAX>,
    format!("string_text_{MIN}_{MAX}"),
    MetaSchema {
        min_length: Some(MIN),
        max_length: Some(MAX),
        pattern: Some(Self::PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
);

/// An e-mail address, kept lower-case so that uniqueness does not depend on case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for Email {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Email, Self::Err> {
        if s.chars().count() <= EMAIL_MAX && matches(&EMAIL_RE, s) {
            Ok(Email(s.to_lowercase()))
        } else {
            Err("must be an e-mail address such as ada@example.com")
        }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_scalar!(
    [] Email,
    "string_email",
    MetaSchema {
        max_length: Some(EMAIL_MAX),
        pattern: Some(EMAIL.to_owned()),
        ..MetaSchema::new("string")
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_patterns_compile() {
        for re in [&ANY_RE, &VISIBLE_RE, &EMAIL_RE] {
            assert!(re.is_some());
        }
    }

    #[test]
    fn text_is_visible_bounded_and_trimmed() {
        type Name = Text<1, 5>;
        assert_eq!(
            " Ada ".parse::<Name>().map(Text::into_string),
            Ok("Ada".into())
        );
        assert_eq!(
            "a\nb".parse::<Name>().map(Text::into_string),
            Ok("a\nb".into())
        );
        for bad in [
            "",
            "   ",
            "\u{3000}\u{a0}",
            "a\tb",
            "a\u{85}",
            "abcdef",
            "    a ",
        ] {
            assert!(bad.parse::<Name>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "  ".parse::<Text<0, 5>>().map(Text::into_string),
            Ok("".into())
        );
        assert!("\u{7}".parse::<Text<0, 5>>().is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            "Ada@Example.COM".parse::<Email>().map(Email::into_string),
            Ok("ada@example.com".into())
        );
        for bad in [
            "a", "a@b", "@b.io", "a@.io", "a b@c.io", "a@b.io.", " a@b.io", "a@b@c.io", "a@b.io\n",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(EMAIL_MAX));
        assert!(long.parse::<Email>().is_err());
    }
}
