//! `policy-service documents lifecycle show|apply` and `documents public-policy show|apply`:
//! the buckets' configuration kept in the repository (`deploy/s3/lifecycle.json`,
//! `deploy/s3/public-read-policy.json`), applied by the service's own credentials and
//! endpoint, so what is tested against moto is what production runs.

use std::path::PathBuf;

use clap::Subcommand;

use crate::platform::{
    documents::{Documents, lifecycle::Lifecycle},
    error::{Error, Result},
};

#[derive(Subcommand)]
pub enum DocumentsCommand {
    /// The private bucket's lifecycle rules (transitions by document type and key prefix).
    #[command(subcommand)]
    Lifecycle(BucketCommand),
    /// The public bucket's read policy (`${AWS_PUBLIC_BUCKET}` in the file is its name).
    #[command(subcommand)]
    PublicPolicy(BucketCommand),
}

#[derive(Subcommand)]
pub enum BucketCommand {
    /// Print what the bucket holds now, as the file writes it.
    Show,
    /// Replace the bucket's configuration with the file's, then read it back and compare.
    Apply {
        #[arg(long)]
        file: PathBuf,
    },
}

pub async fn run(documents: &Documents, command: DocumentsCommand) -> Result<()> {
    let read = |file: &PathBuf| {
        std::fs::read_to_string(file)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", file.display())))
    };
    match command {
        DocumentsCommand::Lifecycle(BucketCommand::Show) => match documents.lifecycle().await? {
            (bucket, None) => println!("{bucket} has no lifecycle configuration"),
            (_, Some(rules)) => println!("{}", pretty(&rules)?),
        },
        DocumentsCommand::Lifecycle(BucketCommand::Apply { file }) => {
            let rules = Lifecycle::parse(&read(&file)?)
                .map_err(|e| Error::Config(format!("{}: {e}", file.display())))?;
            let bucket = documents.apply_lifecycle(&rules).await?;
            println!("{bucket}: {} lifecycle rules applied", rules.rules.len());
        }
        DocumentsCommand::PublicPolicy(BucketCommand::Show) => {
            match documents.public_policy().await? {
                (bucket, None) => println!("{bucket} has no bucket policy"),
                (_, Some(policy)) => println!("{policy}"),
            }
        }
        DocumentsCommand::PublicPolicy(BucketCommand::Apply { file }) => {
            let bucket = documents.apply_public_policy(&read(&file)?).await?;
            println!("{bucket}: public read policy applied");
        }
    }
    Ok(())
}

fn pretty(rules: &Lifecycle) -> Result<String> {
    serde_json::to_string_pretty(rules).map_err(|e| Error::Internal(e.to_string()))
}
