//! The documents' variables, under the names the seed's `config/filesystems.php` reads, so
//! its operators recognise them. Credentials are not among them: the standard AWS chain reads
//! AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the pod's web identity itself.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use crate::platform::config::value::{Unit, duration, secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Disk {
    /// Files under DATA_DIR/documents.
    Local,
    /// AWS_BUCKET (private) and AWS_PUBLIC_BUCKET (public).
    S3,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Documents (the object store)")]
pub struct DocumentsConfig {
    /// Where documents' bytes go: `local` (DATA_DIR/documents) or `s3`.
    #[arg(long, env = "FILESYSTEM_DISK", value_enum, default_value_t = Disk::Local)]
    pub filesystem_disk: Disk,

    /// The private bucket: every private document, encrypted at rest (SSE AES256).
    #[arg(long, env = "AWS_BUCKET")]
    pub aws_bucket: Option<String>,

    /// The public bucket (readable through its bucket policy or the CDN). Unset: public
    /// uploads are refused.
    #[arg(long, env = "AWS_PUBLIC_BUCKET")]
    pub aws_public_bucket: Option<String>,

    /// The buckets' region (the AWS SDKs' variable; wins over AWS_DEFAULT_REGION).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,

    /// The region when AWS_REGION is unset (the AWS CLI's variable, Laravel's).
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub aws_default_region: String,

    /// CA bundle (PEM) an S3-compatible server's certificate may chain to, besides the TLS
    /// roots (the AWS SDKs' variable); also used for Secrets Manager.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub aws_ca_bundle: Option<PathBuf>,

    /// An S3-compatible server instead of AWS, e.g. `http://minio:9000`.
    #[arg(long, env = "AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,

    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (most
    /// S3-compatible servers need it).
    #[arg(long, env = "AWS_USE_PATH_STYLE_ENDPOINT", default_value_t = false)]
    pub aws_use_path_style_endpoint: bool,

    /// The public bucket's base URL outside production (Laravel's `url`); unset: the bucket's
    /// own S3 URL.
    #[arg(long, env = "AWS_URL")]
    pub aws_url: Option<String>,

    /// The largest document accepted, in bytes; larger uploads get 413.
    #[arg(long, env = "DOCUMENTS_MAX_BYTES", default_value_t = 50 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub documents_max_bytes: u64,

    /// Where uploads are spooled while they arrive and are checked (default: the system's
    /// temporary folder; give it room for DOCUMENTS_MAX_BYTES per upload in flight).
    #[arg(long, env = "DOCUMENTS_SPOOL_DIR")]
    pub documents_spool_dir: Option<PathBuf>,

    /// How long a signed download URL (`?redirect=true`) stays valid, in seconds.
    #[arg(id = "documents_url_ttl_secs", long = "documents-url-ttl-secs", env = "DOCUMENTS_URL_TTL_SECS", default_value = "300", value_parser = duration(Unit::Secs, 1, 604_800))]
    pub url_ttl: Duration,

    /// Days a restored copy of an archived (GLACIER) document stays readable.
    #[arg(long, env = "DOCUMENTS_RESTORE_DAYS", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=365))]
    pub documents_restore_days: i32,

    /// An upload or a delete that has not finished after this many seconds is cleaned up by the
    /// documents sweep (its object deleted, then its row).
    #[arg(id = "documents_stale_secs", long = "documents-stale-secs", env = "DOCUMENTS_STALE_SECS", default_value = "900", value_parser = secs)]
    pub stale: Duration,

    /// Failed object store calls in a row (no answer, a timeout, a 5xx) that open its breaker:
    /// then calls fail at once with 503 instead of waiting on the store.
    #[arg(long, env = "DOCUMENTS_BREAKER_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub documents_breaker_failures: u32,

    /// Seconds the object store's breaker stays open before one call probes the store.
    #[arg(id = "documents_breaker_open_secs", long = "documents-breaker-open-secs", env = "DOCUMENTS_BREAKER_OPEN_SECS", default_value = "30", value_parser = secs)]
    pub breaker_open: Duration,

    /// How often (s) every tenant's unfinished uploads and deletes are swept (and once at start).
    #[arg(id = "documents_sweep_secs", long = "documents-sweep-secs", env = "DOCUMENTS_SWEEP_SECS", default_value = "600", value_parser = secs)]
    pub sweep: Duration,
}

impl DocumentsConfig {
    /// AWS_REGION, else AWS_DEFAULT_REGION.
    pub fn region(&self) -> &str {
        self.aws_region
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.aws_default_region)
    }

    pub fn is_s3(&self) -> bool {
        self.filesystem_disk == Disk::S3
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.documents_spool_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
    }
}
