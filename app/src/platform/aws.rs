//! The AWS SDK's shared configuration, for every AWS client the service makes (S3, Secrets
//! Manager): the standard credential chain (environment, profile, EKS web identity, instance
//! metadata), the standard endpoint overrides (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`), and TLS by rustls on ring, as sqlx and redis use (the SDK's
//! default would build aws-lc: cmake and minutes on 2 cores), trusting the service's TLS roots
//! (`tls`) plus `AWS_CA_BUNDLE`, the SDKs' own variable for an S3-compatible store's private CA.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_smithy_http_client::tls;

use crate::platform::{
    error::Result,
    tls::{Pem, Tls},
};

/// The configuration for `region`, trusting `roots` and `ca`. A connection that cannot open
/// fails fast; a slow transfer is left to run (a large upload may take minutes).
pub async fn config(region: &str, roots: &Tls, ca: Option<&Pem>) -> Result<SdkConfig> {
    let pem = roots.pem_roots(ca)?;
    // No roots at all (an image without them, nothing extra): the SDK's own defaults.
    let trust = if pem.is_empty() {
        tls::TrustStore::default()
    } else {
        tls::TrustStore::empty().with_pem_certificate(pem)
    };
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| crate::platform::error::Error::Config(format!("AWS TLS: {e}")))?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(context)
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(30))
        .build();
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await)
}
