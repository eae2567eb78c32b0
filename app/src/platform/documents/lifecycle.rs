//! The private bucket's lifecycle configuration (the seed's "S3 Lifecycle Integration"): kept in
//! the repository as JSON in the shape `aws s3api put-bucket-lifecycle-configuration` takes
//! (`deploy/s3/lifecycle.json`), applied and shown by `policy-service documents lifecycle`.
//!
//! The file is read closed: a field this module does not know is refused, not dropped, so a
//! rule is never applied with half its meaning. Rules filter by key prefix and by the
//! `document-type` tag every upload carries; they may transition objects between classes and
//! abort unfinished multipart uploads. **No expiration**: a document's row must never lead to a
//! missing object, so documents are deleted through the API (or a job of the service), never
//! by S3 behind its back; a rule with `Expiration` is refused.

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, Tag, Transition, TransitionStorageClass,
};
use serde::{Deserialize, Serialize};

/// The classes a transition may move an object to; S3 refuses STANDARD_IA and ONEZONE_IA
/// before 30 days, said here before S3 says it.
const CLASSES: &[(&str, i32)] = &[
    ("STANDARD_IA", 30),
    ("ONEZONE_IA", 30),
    ("INTELLIGENT_TIERING", 0),
    ("GLACIER_IR", 0),
    ("GLACIER", 0),
    ("DEEP_ARCHIVE", 0),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "ID")]
    pub id: String,
    pub status: String,
    pub filter: Filter,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Move>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<Abort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<And>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct And {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Move {
    pub days: i32,
    pub storage_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Abort {
    pub days_after_initiation: i32,
}

impl Lifecycle {
    /// The file's text, parsed and checked; the error names the rule and what is wrong.
    pub fn parse(text: &str) -> Result<Lifecycle, String> {
        let lifecycle: Lifecycle = serde_json::from_str(text)
            .map_err(|e| format!("not a lifecycle configuration: {e}"))?;
        if lifecycle.rules.is_empty() {
            return Err("no rules".into());
        }
        for rule in &lifecycle.rules {
            rule.check().map_err(|e| format!("rule {}: {e}", rule.id))?;
        }
        Ok(lifecycle)
    }

    pub fn to_s3(&self) -> Result<BucketLifecycleConfiguration, String> {
        let rules = self
            .rules
            .iter()
            .map(Rule::to_s3)
            .collect::<Result<_, _>>()?;
        BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(|e| e.to_string())
    }

    /// The bucket's rules as the file writes them (what `show` prints, and `apply` compares).
    pub fn from_s3(rules: &[LifecycleRule]) -> Lifecycle {
        Lifecycle {
            rules: rules.iter().map(Rule::from_s3).collect(),
        }
    }
}

impl Rule {
    fn check(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > 255 {
            return Err("an ID of 1 to 255 characters".into());
        }
        if self.status != "Enabled" && self.status != "Disabled" {
            return Err("Status is Enabled or Disabled".into());
        }
        let f = &self.filter;
        let given = [f.prefix.is_some(), f.tag.is_some(), f.and.is_some()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err("a Filter of one Prefix, one Tag, or one And".into());
        }
        if let Some(and) = &f.and
            && usize::from(and.prefix.is_some()) + and.tags.len() < 2
        {
            return Err("an And of two predicates at least".into());
        }
        if self.transitions.is_empty() && self.abort_incomplete_multipart_upload.is_none() {
            return Err("Transitions or AbortIncompleteMultipartUpload".into());
        }
        let mut last = 0;
        for t in &self.transitions {
            let Some((_, floor)) = CLASSES.iter().find(|(c, _)| *c == t.storage_class) else {
                let names: Vec<&str> = CLASSES.iter().map(|(c, _)| *c).collect();
                return Err(format!("StorageClass is one of {}", names.join(", ")));
            };
            if t.days < (*floor).max(1) || t.days <= last {
                return Err(format!(
                    "{} after {} days: at least {}, and later than the transition before",
                    t.storage_class,
                    t.days,
                    (*floor).max(1)
                ));
            }
            last = t.days;
        }
        if self
            .abort_incomplete_multipart_upload
            .as_ref()
            .is_some_and(|a| a.days_after_initiation < 1)
        {
            return Err("DaysAfterInitiation is at least 1".into());
        }
        Ok(())
    }

    fn to_s3(&self) -> Result<LifecycleRule, String> {
        let tag = |kv: &KeyValue| {
            Tag::builder()
                .key(&kv.key)
                .value(&kv.value)
                .build()
                .map_err(|e| e.to_string())
        };
        let mut filter = LifecycleRuleFilter::builder().set_prefix(self.filter.prefix.clone());
        if let Some(kv) = &self.filter.tag {
            filter = filter.tag(tag(kv)?);
        }
        if let Some(and) = &self.filter.and {
            let tags = and.tags.iter().map(tag).collect::<Result<Vec<_>, _>>()?;
            filter = filter.and(
                LifecycleRuleAndOperator::builder()
                    .set_prefix(and.prefix.clone())
                    .set_tags(Some(tags))
                    .build(),
            );
        }
        let transitions = self
            .transitions
            .iter()
            .map(|t| {
                Transition::builder()
                    .days(t.days)
                    .storage_class(TransitionStorageClass::from(t.storage_class.as_str()))
                    .build()
            })
            .collect();
        LifecycleRule::builder()
            .id(&self.id)
            .status(ExpirationStatus::from(self.status.as_str()))
            .filter(filter.build())
            .set_transitions(Some(transitions).filter(|t: &Vec<_>| !t.is_empty()))
            .set_abort_incomplete_multipart_upload(
                self.abort_incomplete_multipart_upload.as_ref().map(|a| {
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(a.days_after_initiation)
                        .build()
                }),
            )
            .build()
            .map_err(|e| e.to_string())
    }

    fn from_s3(rule: &LifecycleRule) -> Rule {
        let kv = |t: &Tag| KeyValue {
            key: t.key().to_owned(),
            value: t.value().to_owned(),
        };
        let filter = rule.filter().map_or_else(Filter::default, |f| Filter {
            prefix: f.prefix().map(str::to_owned),
            tag: f.tag().map(kv),
            and: f.and().map(|a| And {
                prefix: a.prefix().map(str::to_owned),
                tags: a.tags().iter().map(kv).collect(),
            }),
        });
        Rule {
            id: rule.id().unwrap_or_default().to_owned(),
            status: rule.status().as_str().to_owned(),
            filter,
            transitions: rule
                .transitions()
                .iter()
                .map(|t| Move {
                    days: t.days().unwrap_or_default(),
                    storage_class: t
                        .storage_class()
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                })
                .collect(),
            abort_incomplete_multipart_upload: rule.abort_incomplete_multipart_upload().map(|a| {
                Abort {
                    days_after_initiation: a.days_after_initiation().unwrap_or_default(),
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = include_str!("../../../../deploy/s3/lifecycle.json");

    #[test]
    fn the_repositorys_rules_parse_and_survive_the_round_trip() {
        let lifecycle = Lifecycle::parse(REPO).unwrap_or_else(|e| panic!("{e}"));
        let s3 = lifecycle.to_s3().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Lifecycle::from_s3(s3.rules()), lifecycle);
    }

    #[test]
    fn what_s3_would_refuse_or_the_service_forbids_is_refused_by_name() {
        let rule =
            |body: &str| format!(r#"{{"Rules": [{{"ID": "r", "Status": "Enabled", {body}}}]}}"#);
        for (text, says) in [
            (
                rule(r#""Filter": {"Prefix": "tenant/"}, "Expiration": {"Days": 30}"#),
                "Expiration",
            ),
            (
                rule(
                    r#""Filter": {"Prefix": "t/"}, "Transitions": [{"Days": 7, "StorageClass": "STANDARD_IA"}]"#,
                ),
                "at least 30",
            ),
            (
                rule(
                    r#""Filter": {"Prefix": "t/"}, "Transitions": [{"Days": 90, "StorageClass": "COLD"}]"#,
                ),
                "StorageClass is one of",
            ),
            (
                rule(
                    r#""Filter": {"Prefix": "t/", "Tag": {"Key": "a", "Value": "b"}}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}"#,
                ),
                "one Prefix, one Tag, or one And",
            ),
            (
                rule(
                    r#""Filter": {"Prefix": "t/"}, "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}, {"Days": 60, "StorageClass": "DEEP_ARCHIVE"}]"#,
                ),
                "later than",
            ),
        ] {
            let e = Lifecycle::parse(&text).expect_err(&text);
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
