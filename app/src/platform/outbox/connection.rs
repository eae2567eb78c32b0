//! How the Kafka producer reaches a managed Kafka (MSK, Confluent, Aiven): librdkafka's own
//! properties, as every Kafka user writes them, from a properties file (KAFKA_PROPERTIES_FILE,
//! `key=value` lines) and from variables `KAFKA_<NAME>` (`<name>` lower-cased, `_` read as `.`:
//! `KAFKA_SECURITY_PROTOCOL=SASL_SSL` is `security.protocol`), variables winning. The SASL
//! password is a secret (KAFKA_SASL_PASSWORD, or the file KAFKA_SASL_PASSWORD_FILE names).
//!
//! Over TLS (`security.protocol` SSL or SASL_SSL) the broker's certificate is checked against the
//! service's TLS policy (`platform::tls`): the system's roots, TLS_EXTRA_CA_CERTS, and the CA that
//! `ssl.ca.location` names, all handed to librdkafka as `ssl.ca.pem`, so one private CA is trusted
//! in one place here too.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use crate::platform::{
    error::{Error, Result},
    tls::{Pem, Tls},
};

/// Variables under `KAFKA_` that are the service's own, not librdkafka properties.
const OWN: &[&str] = &[
    "KAFKA_BROKERS",
    "KAFKA_TOPIC_PREFIX",
    "KAFKA_PROPERTIES_FILE",
    "KAFKA_AWS_MSK_IAM",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
];

/// The librdkafka properties to set, in order (a later one wins). With `msk_iam`, MSK's IAM
/// port's protocol and mechanism come first (SASL_SSL, OAUTHBEARER), so given ones win.
pub fn properties(
    file: Option<&Path>,
    env: &[(String, String)],
    password: Option<&SecretString>,
    msk_iam: bool,
    tls: &Tls,
) -> Result<Vec<(String, String)>> {
    let mut props = Vec::new();
    if msk_iam {
        props.push(("security.protocol".to_owned(), "SASL_SSL".to_owned()));
        props.push(("sasl.mechanisms".to_owned(), "OAUTHBEARER".to_owned()));
    }
    if let Some(path) = file {
        props.extend(read_file(path)?);
    }
    for (name, value) in env {
        if let Some(rest) = name.strip_prefix("KAFKA_")
            && !OWN.contains(&name.as_str())
            && !rest.is_empty()
        {
            props.push((rest.to_ascii_lowercase().replace('_', "."), value.clone()));
        }
    }
    if let Some(password) = password {
        props.push(("sasl.password".into(), password.expose_secret().to_owned()));
    }
    let protocol = last(&props, "security.protocol").map(str::to_ascii_lowercase);
    if matches!(protocol.as_deref(), Some("ssl" | "sasl_ssl"))
        && last(&props, "ssl.ca.pem").is_none()
    {
        let ca = last(&props, "ssl.ca.location")
            .map(|path| Pem::read("KAFKA_SSL_CA_LOCATION", Path::new(path)))
            .transpose()?;
        let roots = tls.pem_roots(ca.as_ref())?;
        // No roots at all (an image without them, nothing extra): librdkafka's own defaults.
        if !roots.is_empty() {
            props.retain(|(k, _)| k != "ssl.ca.location");
            let roots = String::from_utf8(roots)
                .map_err(|_| Error::Config("KAFKA_SSL_CA_LOCATION: not PEM text".into()))?;
            props.push(("ssl.ca.pem".into(), roots));
        }
    }
    Ok(props)
}

fn last<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
    props
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A Java-style properties file: `key=value` (or `key: value`) lines; `#` and `!` comments.
fn read_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "KAFKA_PROPERTIES_FILE: cannot read {}: {e}",
            path.display()
        ))
    })?;
    let mut props = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            return Err(Error::Config(format!(
                "KAFKA_PROPERTIES_FILE: line {} is not key=value",
                n + 1
            )));
        };
        props.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_win_over_the_file_and_the_password_is_a_secret() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "# MSK\nsecurity.protocol=SASL_SSL\nsasl.mechanisms: SCRAM-SHA-512\n",
        )
        .expect("file");
        let env = vec![
            ("KAFKA_BROKERS".to_owned(), "b:9096".to_owned()),
            ("KAFKA_SASL_MECHANISMS".to_owned(), "PLAIN".to_owned()),
            ("KAFKA_SASL_USERNAME".to_owned(), "svc".to_owned()),
        ];
        let tls = Tls::load(&crate::platform::tls::TlsSettings {
            extra_ca_certs: None,
        })
        .expect("tls");
        let password = SecretString::from("hunter2");
        let props = properties(Some(&file), &env, Some(&password), false, &tls).expect("props");
        assert_eq!(last(&props, "sasl.mechanisms"), Some("PLAIN"));
        assert_eq!(last(&props, "sasl.username"), Some("svc"));
        assert_eq!(last(&props, "sasl.password"), Some("hunter2"));
        assert!(last(&props, "brokers").is_none());
        // SASL_SSL: the TLS policy's roots go to librdkafka (where the system has any).
        assert_ne!(last(&props, "ssl.ca.pem").is_some(), props.is_empty());
        std::fs::write(&file, "security.protocol\n").expect("file");
        let e = properties(Some(&file), &[], None, false, &tls)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("line 1")));
        // MSK IAM: SASL_SSL and OAUTHBEARER unless given, the TLS roots with them.
        let props = properties(None, &[], None, true, &tls).expect("props");
        assert_eq!(last(&props, "sasl.mechanisms"), Some("OAUTHBEARER"));
        assert_eq!(last(&props, "security.protocol"), Some("SASL_SSL"));
    }
}
