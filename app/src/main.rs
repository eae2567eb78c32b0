use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    policy_service::cli::run().await
}
