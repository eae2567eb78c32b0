//! AWS Secrets Manager: the secret's string, through the shared AWS configuration (`aws`), so
//! the standard credential chain and `AWS_ENDPOINT_URL_SECRETS_MANAGER` apply.

use std::path::Path;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::platform::tls::{Pem, Tls};

pub async fn read(id: &str) -> Result<String, String> {
    // The SDKs' order: AWS_REGION, then the CLI's AWS_DEFAULT_REGION.
    let region = super::env("AWS_REGION")
        .or_else(|| super::env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let tls = Tls::from_env().map_err(|e| e.to_string())?;
    let ca = super::env("AWS_CA_BUNDLE")
        .map(|path| Pem::read("AWS_CA_BUNDLE", Path::new(&path)))
        .transpose()
        .map_err(|e| e.to_string())?;
    let config = crate::platform::aws::config(&region, &tls, ca.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let read = client.get_secret_value().secret_id(id).send().await;
    let secret = read.map_err(|e| {
        let why = match &e {
            // The service's own code and message (ResourceNotFoundException, AccessDenied…):
            // they name the secret, not its value.
            SdkError::ServiceError(s) => format!(
                "{}: {}",
                s.err().code().unwrap_or("error"),
                s.err().message().unwrap_or_default()
            ),
            other => DisplayErrorContext(other).to_string(),
        };
        format!("cannot read AWS secret {id}: {why}")
    })?;
    secret
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| format!("AWS secret {id} has no SecretString (a binary secret is not read)"))
}
