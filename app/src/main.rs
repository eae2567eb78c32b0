use std::process::ExitCode;

fn main() -> ExitCode {
    // `.env` and the secret stores first, before any thread starts (see `cli::prepare`).
    if let Err(e) = policy_service::cli::prepare() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(policy_service::cli::run()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
