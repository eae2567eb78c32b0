//! The string scalars the API takes and gives: calendar dates (`format: date`) and record ids
//! (`format: uuid`). Each is parsed once, strictly, from exactly the text its OpenAPI format
//! describes, so a generated client, a fuzzer and the server agree on what is valid:
//!
//! - `Date` is RFC 3339 `full-date`, `YYYY-MM-DD` with a four-digit year from 0001. chrono on its
//!   own also reads `+10000-01-01`, `-0001-01-01` and `2026-1-5`, none of which is `format: date`.
//!   (poem-openapi's own `NaiveDate` publishes `format: naive-date`, which no generator knows.)
//! - `Id` is the hyphenated UUID form only. The uuid crate also reads the simple, braced and URN
//!   forms, which JSON Schema's `uuid` format does not allow. It is kept lower-case.
//!
//! Both serialise and deserialise through serde as well as poem-openapi, since request bodies are
//! read with serde (`platform::http::body`) to name the field at fault.

use std::{fmt, str::FromStr};

use chrono::{Datelike, Days, NaiveDate};
use poem_openapi::registry::MetaSchema;

/// A calendar day, years 1 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    pub fn today() -> Date {
        Date(chrono::Utc::now().date_naive())
    }

    /// `days` later, saturating at the last representable day.
    pub fn plus_days(self, days: u64) -> Date {
        Date(
            self.0
                .checked_add_days(Days::new(days))
                .unwrap_or(NaiveDate::MAX),
        )
    }

    /// `days` earlier, saturating at the first representable day.
    pub fn minus_days(self, days: u64) -> Date {
        Date(
            self.0
                .checked_sub_days(Days::new(days))
                .unwrap_or(NaiveDate::MIN),
        )
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Date {
        Date(d)
    }
}

impl FromStr for Date {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Date, Self::Err> {
        const MESSAGE: &str = "must be a date as YYYY-MM-DD (RFC 3339 full-date)";
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                _ => c.is_ascii_digit(),
            });
        if !shaped {
            return Err(MESSAGE);
        }
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| MESSAGE)?;
        if d.year() < 1 {
            return Err("the year must be between 0001 and 9999");
        }
        Ok(Date(d))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// A record id: a UUID in its hyphenated form, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for Id {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Id, Self::Err> {
        let b = s.as_bytes();
        let shaped = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if shaped {
            Ok(Id(s.to_ascii_lowercase()))
        } else {
            Err("must be a UUID such as 0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60")
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// poem-openapi and serde implementations for a `FromStr + Display` scalar: its generics in
/// brackets, the type, its schema name and its schema, written inline where it is used. With
/// `component` first, the schema is the document's own (`components/schemas/<name>`) and every
/// field holding the type refers to it: one type for one concept in every generated client.
macro_rules! string_scalar {
    ([$($g:tt)*] $ty:ty, $name:expr, $schema:expr) => {
        string_scalar!(@scalar [$($g)*] $ty, $name,
            poem_openapi::registry::MetaSchemaRef::Inline(Box::new($schema)), {});
    };
    (component [$($g:tt)*] $ty:ty, $name:expr, $schema:expr) => {
        string_scalar!(@scalar [$($g)*] $ty, $name,
            poem_openapi::registry::MetaSchemaRef::Reference($name.into()), {
            fn register(registry: &mut poem_openapi::registry::Registry) {
                registry.create_schema::<Self, _>($name.into(), |_| $schema);
            }
        });
    };
    (@scalar [$($g:tt)*] $ty:ty, $name:expr, $schema_ref:expr, { $($register:tt)* }) => {
        impl<$($g)*> poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                $schema_ref
            }

            $($register)*

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl<$($g)*> poem_openapi::types::ParseFromJSON for $ty {
            fn parse_from_json(
                value: Option<serde_json::Value>,
            ) -> poem_openapi::types::ParseResult<Self> {
                use poem_openapi::types::ParseError;
                match value.unwrap_or_default() {
                    serde_json::Value::String(s) => s.parse().map_err(ParseError::custom),
                    other => Err(ParseError::expected_type(other)),
                }
            }
        }

        impl<$($g)*> poem_openapi::types::ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
                value.parse().map_err(poem_openapi::types::ParseError::custom)
            }
        }

        impl<$($g)*> poem_openapi::types::ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                Some(serde_json::Value::String(self.to_string()))
            }
        }

        impl<$($g)*> serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de, $($g)*> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_scalar;

string_scalar!([] Date, "string_date", MetaSchema::new_with_format("string", "date"));
string_scalar!([] Id, "string_uuid", MetaSchema::new_with_format("string", "uuid"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_full_dates_only() {
        assert_eq!(
            "2026-02-28".parse::<Date>().map(|d| d.to_string()),
            Ok("2026-02-28".into())
        );
        for bad in [
            "2026-2-28",
            "+10000-01-01",
            "-0001-01-01",
            "0000-01-01",
            "2026-02-30",
            "2026-02-28T00:00:00Z",
            " 2026-02-28",
            "",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_hyphenated_uuids_kept_lower_case() {
        let upper = "0192F4A0-7B8E-7C3D-9A4F-1B2C3D4E5F60";
        assert_eq!(
            upper.parse::<Id>().map(|i| i.to_string()),
            Ok(upper.to_ascii_lowercase())
        );
        for bad in [
            "0192f4a07b8e7c3d9a4f1b2c3d4e5f60",
            "{0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60}",
            "urn:uuid:0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f60",
            "0192f4a0-7b8e-7c3d-9a4f-1b2c3d4e5f6g",
            "",
        ] {
            assert!(bad.parse::<Id>().is_err(), "{bad}");
        }
        assert!(uuid::Uuid::now_v7().to_string().parse::<Id>().is_ok());
    }

    #[test]
    fn serde_names_the_rule() {
        let err = serde_json::from_str::<Date>("\"2026-13-01\"").err();
        assert!(err.is_some_and(|e| e.to_string().contains("YYYY-MM-DD")));
    }
}
