//! The AWS SDK's shared configuration, for every AWS client the service makes (S3, Secrets
//! Manager): the standard credential chain (environment, profile, EKS web identity, instance
//! metadata), the standard endpoint overrides (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`), and TLS by rustls on ring, as sqlx and redis use (the SDK's
//! default would build aws-lc: cmake and minutes on 2 cores).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_smithy_http_client::tls;

/// The configuration for `region`. A connection that cannot open fails fast; a slow transfer
/// is left to run (a large upload may take minutes).
pub async fn config(region: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .read_timeout(Duration::from_secs(30))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}
