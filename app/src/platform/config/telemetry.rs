//! The telemetry variables: where logs and spans go, how they get there (TLS, credentials),
//! and what labels cost.
//!
//! The OTLP variables are the OpenTelemetry specification's own (`OTEL_EXPORTER_OTLP_*`, each
//! with a `_TRACES_` form that wins for traces, the one signal exported): a collector's
//! documentation applies as written. Loki's follow its clients' settings (Promtail, Alloy):
//! basic or bearer authorization, a tenant id sent as `X-Scope-OrgID`, and a CA.

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::{Args, ValueEnum};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::platform::{
    config::value::{Unit, duration},
    error::{Error, Result},
    tls::{Identity, Pem, Tls},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtlpCompression {
    Gzip,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtlpProtocol {
    #[value(name = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetrySettings {
    /// Overrides the log format chosen by APP_ENV.
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<telemetry::LogFormat>,

    /// Log filter in `tracing` EnvFilter syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn")]
    pub log_filter: String,

    /// Loki base URL, e.g. `http://loki:3100`. Unset: logs go to stdout only.
    #[arg(long, env = "LOKI_URL")]
    pub loki_url: Option<String>,

    /// Loki's basic-auth user (with LOKI_PASSWORD), e.g. a Grafana Cloud instance id.
    #[arg(long, env = "LOKI_USERNAME")]
    pub loki_username: Option<String>,

    /// LOKI_PASSWORD, LOKI_BEARER_TOKEN (secrets).
    #[arg(skip)]
    pub loki_password: Option<SecretString>,
    #[arg(skip)]
    pub loki_bearer_token: Option<SecretString>,

    /// The Loki tenant the lines belong to, sent as `X-Scope-OrgID` (a multi-tenant Loki).
    #[arg(long, env = "LOKI_TENANT_ID")]
    pub loki_tenant_id: Option<String>,

    /// CA (PEM) Loki's certificate may chain to, besides the TLS roots.
    #[arg(long, env = "LOKI_TLS_CA_FILE")]
    pub loki_tls_ca_file: Option<PathBuf>,

    /// Client certificate (PEM) for a Loki that checks clients, with LOKI_TLS_KEY_FILE.
    #[arg(long, env = "LOKI_TLS_CERT_FILE")]
    pub loki_tls_cert_file: Option<PathBuf>,

    #[arg(long, env = "LOKI_TLS_KEY_FILE")]
    pub loki_tls_key_file: Option<PathBuf>,

    /// Kubernetes namespace: the `namespace` label of shipped logs.
    #[arg(long, env = "K8S_NAMESPACE")]
    pub k8s_namespace: Option<String>,

    /// OTLP/HTTP collector (Tempo), e.g. `http://tempo:4318`; spans go to its `/v1/traces`.
    /// Unset (and no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): spans are not exported (trace ids
    /// still reach logs and response headers). OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
    /// choose sampling (default parentbased_always_on).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// The traces URL itself, used as given (no `/v1/traces` added); wins over the above.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,

    /// OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS (secrets).
    #[arg(skip)]
    pub otlp_headers: Option<SecretString>,
    #[arg(skip)]
    pub otlp_traces_headers: Option<SecretString>,

    /// Only `http/protobuf` (OTLP over HTTP, which Tempo, the Collector and Grafana Cloud all
    /// take); gRPC is not built in.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", value_enum, default_value_t = OtlpProtocol::HttpProtobuf)]
    pub otlp_protocol: OtlpProtocol,

    /// As OTEL_EXPORTER_OTLP_PROTOCOL, for traces; wins.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", value_enum)]
    pub otlp_traces_protocol: Option<OtlpProtocol>,

    /// `gzip` compresses each export (about 10× smaller for spans).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_COMPRESSION", value_enum, default_value_t = OtlpCompression::None)]
    pub otlp_compression: OtlpCompression,

    /// As OTEL_EXPORTER_OTLP_COMPRESSION, for traces; wins.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", value_enum)]
    pub otlp_traces_compression: Option<OtlpCompression>,

    /// How long one export may take (ms).
    #[arg(id = "otlp_timeout", long = "otlp-timeout", env = "OTEL_EXPORTER_OTLP_TIMEOUT", default_value = "10000", value_parser = duration(Unit::Millis, 1, 600_000))]
    pub otlp_timeout: Duration,

    /// As OTEL_EXPORTER_OTLP_TIMEOUT, for traces; wins.
    #[arg(id = "otlp_traces_timeout", long = "otlp-traces-timeout", env = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", value_parser = duration(Unit::Millis, 1, 600_000))]
    pub otlp_traces_timeout: Option<Duration>,

    /// CA (PEM) the collector's certificate may chain to, besides the TLS roots.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_CERTIFICATE")]
    pub otlp_certificate: Option<PathBuf>,

    /// As OTEL_EXPORTER_OTLP_CERTIFICATE, for traces; wins.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")]
    pub otlp_traces_certificate: Option<PathBuf>,

    /// Client certificate (PEM) for a collector that checks clients, with
    /// OTEL_EXPORTER_OTLP_CLIENT_KEY (each also in a `_TRACES_` form that wins).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")]
    pub otlp_client_certificate: Option<PathBuf>,

    #[arg(long, env = "OTEL_EXPORTER_OTLP_CLIENT_KEY")]
    pub otlp_client_key: Option<PathBuf>,

    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE")]
    pub otlp_traces_client_certificate: Option<PathBuf>,

    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")]
    pub otlp_traces_client_key: Option<PathBuf>,

    /// Tenants with a label of their own in metrics; beyond it they fold into `other`.
    #[arg(long, env = "METRICS_TENANT_LABELS", default_value_t = 100)]
    pub metrics_tenant_labels: usize,

    /// Log lines waiting for Loki at most; more are dropped and counted.
    #[arg(long, env = "LOG_QUEUE_LINES", default_value_t = 10_000)]
    pub log_queue_lines: usize,
}

impl TelemetrySettings {
    /// Loki, when LOKI_URL is set: its URL, authorization, tenant and TLS.
    pub fn loki(&self, tls: &Tls) -> Result<Option<telemetry::Endpoint>> {
        let Some(url) = self.loki_url.clone().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let mut headers = HeaderMap::new();
        let authorization = match (
            &self.loki_username,
            &self.loki_password,
            &self.loki_bearer_token,
        ) {
            (_, Some(_), Some(_)) => {
                return Err(Error::Config(
                    "LOKI_PASSWORD and LOKI_BEARER_TOKEN are both set: keep one".into(),
                ));
            }
            (Some(user), Some(password), None) => Some(basic(user, password)),
            (None, Some(_), None) => {
                return Err(Error::Config("LOKI_PASSWORD needs LOKI_USERNAME".into()));
            }
            (_, None, Some(token)) => Some(format!("Bearer {}", token.expose_secret())),
            (_, None, None) => None,
        };
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, sensitive("Loki's authorization", &value)?);
        }
        if let Some(org) = &self.loki_tenant_id {
            let value = HeaderValue::from_str(org)
                .map_err(|_| Error::Config("LOKI_TENANT_ID: not a header value".into()))?;
            headers.insert(HeaderName::from_static("x-scope-orgid"), value);
        }
        let ca = Pem::optional("LOKI_TLS_CA_FILE", self.loki_tls_ca_file.as_ref())?;
        let identity = Identity::optional(
            Pem::optional("LOKI_TLS_CERT_FILE", self.loki_tls_cert_file.as_ref())?,
            Pem::optional("LOKI_TLS_KEY_FILE", self.loki_tls_key_file.as_ref())?,
        )?;
        Ok(Some(telemetry::Endpoint {
            url,
            headers,
            tls: Arc::new(tls.client(ca.as_ref(), identity.as_ref())?),
        }))
    }

    /// The OTLP export, when an endpoint is set; each `_TRACES_` variable wins over its
    /// general form, as the specification says.
    pub fn otlp(&self, tls: &Tls) -> Result<Option<telemetry::Otlp>> {
        let url = match (&self.otlp_traces_endpoint, &self.otlp_endpoint) {
            (Some(traces), _) if !traces.is_empty() => traces.clone(),
            (_, Some(base)) if !base.is_empty() => {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            _ => return Ok(None),
        };
        let mut headers = HeaderMap::new();
        for (var, list) in [
            ("OTEL_EXPORTER_OTLP_HEADERS", &self.otlp_headers),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                &self.otlp_traces_headers,
            ),
        ] {
            if let Some(list) = list {
                headers.extend(header_list(var, list.expose_secret())?);
            }
        }
        let (ca_var, ca) = match &self.otlp_traces_certificate {
            Some(path) => ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", Some(path)),
            None => (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                self.otlp_certificate.as_ref(),
            ),
        };
        let identity = match (
            &self.otlp_traces_client_certificate,
            &self.otlp_traces_client_key,
        ) {
            (None, None) => Identity::optional(
                Pem::optional(
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                    self.otlp_client_certificate.as_ref(),
                )?,
                Pem::optional(
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                    self.otlp_client_key.as_ref(),
                )?,
            )?,
            (cert, key) => Identity::optional(
                Pem::optional(
                    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                    cert.as_ref(),
                )?,
                Pem::optional("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", key.as_ref())?,
            )?,
        };
        let ca = Pem::optional(ca_var, ca)?;
        let compression = self
            .otlp_traces_compression
            .unwrap_or(self.otlp_compression);
        Ok(Some(telemetry::Otlp {
            endpoint: telemetry::Endpoint {
                url,
                headers,
                tls: Arc::new(tls.client(ca.as_ref(), identity.as_ref())?),
            },
            gzip: compression == OtlpCompression::Gzip,
            timeout: self.otlp_traces_timeout.unwrap_or(self.otlp_timeout),
        }))
    }
}

fn basic(user: &str, password: &SecretString) -> String {
    use base64::Engine;
    let pair = format!("{user}:{}", password.expose_secret());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A header value that `Debug` never prints.
fn sensitive(what: &str, value: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| Error::Config(format!("{what}: not a header value")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The specification's header list, `key1=value1,key2=value2` with percent-encoded values
/// (W3C baggage's format). Every value is treated as a secret: API keys travel here.
fn header_list(var: &str, list: &str) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::Config(format!(
                "{var}: an entry without `=` (the form is key=value,key=value)"
            )));
        };
        let name = HeaderName::from_bytes(key.trim().as_bytes())
            .map_err(|_| Error::Config(format!("{var}: `{}` is not a header name", key.trim())))?;
        let decoded = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| Error::Config(format!("{var}: {name}'s value is not UTF-8")))?;
        headers.append(
            name.clone(),
            sensitive(&format!("{var}: {name}"), &decoded)?,
        );
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_list_is_the_specifications() {
        let headers = header_list("V", "api-key=a%20b%3Dc, x-tenant = t1 ,").expect("a list");
        assert_eq!(
            headers.get("api-key").map(|v| v.as_bytes()),
            Some(&b"a b=c"[..])
        );
        assert_eq!(
            headers.get("x-tenant").map(|v| v.as_bytes()),
            Some(&b"t1"[..])
        );
        assert!(format!("{headers:?}").contains("Sensitive"));
        for bad in ["novalue", "bad name=x", "k=%ff"] {
            let e = header_list("V", bad).err().map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(" V: ")),
                "{bad}: {e:?}"
            );
        }
    }
}
