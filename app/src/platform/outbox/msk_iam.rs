//! AWS MSK's IAM access control, over SASL/OAUTHBEARER (KAFKA_AWS_MSK_IAM=true): librdkafka asks
//! for a token when it connects and again before the last one expires, and the token is what
//! AWS's `aws-msk-iam-sasl-signer` libraries make: the URL
//! `https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`, presigned with SigV4
//! (service `kafka-cluster`, valid 15 minutes) by the AWS SDK's credential chain (the pod's web
//! identity on EKS, the environment, an instance profile), then base64url-encoded. The broker
//! checks the signature and the role's `kafka-cluster:*` permissions.
//!
//! librdkafka calls from its own thread, outside the async runtime: the credentials (refreshed
//! by the SDK as they near expiry) are fetched there on a handle to the service's runtime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::{
    Credentials,
    provider::{ProvideCredentials, SharedCredentialsProvider},
};
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;

/// How long a token is good for: the signers' own choice, and MSK's maximum.
const VALID: Duration = Duration::from_secs(900);

pub struct MskIam {
    region: String,
    credentials: SharedCredentialsProvider,
    runtime: tokio::runtime::Handle,
}

impl MskIam {
    /// The SDK's region and credential chain, as every AWS client of the service finds them.
    pub async fn new() -> Result<MskIam, String> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or("KAFKA_AWS_MSK_IAM needs AWS_REGION (the cluster's region)")?;
        let credentials = config
            .credentials_provider()
            .ok_or("KAFKA_AWS_MSK_IAM found no AWS credentials provider")?;
        Ok(MskIam {
            region,
            credentials,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// A token and when it expires (ms since the epoch), for librdkafka's refresh callback.
    pub fn token(&self) -> Result<(String, i64), String> {
        let credentials = self
            .runtime
            .block_on(self.credentials.provide_credentials())
            .map_err(|e| format!("AWS credentials for MSK: {e}"))?;
        token(&credentials, &self.region, SystemTime::now())
    }
}

/// The presigned `kafka-cluster:Connect` URL for `region` at `now`, base64url-encoded, and its
/// expiry in ms since the epoch.
fn token(
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<(String, i64), String> {
    let url = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster%3AConnect");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(VALID);
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("MSK token: {e}"))?
        .into();
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("MSK token: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("MSK token: {e}"))?
        .into_parts();
    let mut signed = url::Url::parse(&url).map_err(|e| format!("MSK token: {e}"))?;
    {
        let mut query = signed.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
        // Added after signing, as AWS's signers do: the broker logs it.
        query.append_pair(
            "User-Agent",
            concat!("policy-service/", env!("CARGO_PKG_VERSION")),
        );
    }
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.as_str());
    let signed_at = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let expires = (signed_at + VALID).as_millis();
    Ok((token, i64::try_from(expires).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_presigned_connect_url_for_the_region() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (token, expires) = token(&credentials, "eu-west-1", now).expect("a token");
        assert_eq!(expires, 1_700_000_900_000);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .map(|u| String::from_utf8_lossy(&u).into_owned())
            .expect("base64url");
        let url = url::Url::parse(&url).expect("a URL");
        assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["Action"], "kafka-cluster:Connect");
        assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(
            query["X-Amz-Credential"],
            "AKIDEXAMPLE/20231114/eu-west-1/kafka-cluster/aws4_request"
        );
        assert_eq!(query["X-Amz-Expires"], "900");
        assert_eq!(query["X-Amz-Security-Token"], "session");
        assert_eq!(query["X-Amz-SignedHeaders"], "host");
        assert_eq!(query["X-Amz-Signature"].len(), 64);
        assert!(!token.contains("secret"));
    }
}
