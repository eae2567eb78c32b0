//! AWS Secrets Manager: the secret's string, through the shared AWS configuration (`aws`), so
//! the standard credential chain and `AWS_ENDPOINT_URL_SECRETS_MANAGER` apply.

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub async fn read(id: &str) -> Result<String, String> {
    let region = super::env("AWS_DEFAULT_REGION")
        .or_else(|| super::env("AWS_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let client = aws_sdk_secretsmanager::Client::new(&crate::platform::aws::config(&region).await);
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
