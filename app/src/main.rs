use std::process::ExitCode;

fn main() -> ExitCode {
    // `.env` and the secret stores first, before any thread starts (see `cli::prepare`).
    if let Err(e) = policy_service::cli::prepare() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    limit_malloc_arenas();
    match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(BLOCKING_THREADS)
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

/// Threads for blocking work (file reads and writes: spooled uploads, local-disk documents).
/// Tokio's default, 512, lets a burst of downloads start hundreds of threads, each runnable, on a
/// pod of a core or two: the request threads then get a sliver of the CPU and a liveness probe
/// waited a second (`loadtests/abuse.sh`). Past this many, file work queues instead.
const BLOCKING_THREADS: usize = 16;

/// glibc gives each thread that contends for malloc an arena of its own, up to 8 per core, and
/// keeps what each has freed. The runtime's workers and sqlx's SQLite threads (one per
/// connection) would each hold one: two cut resident memory by about a tenth (P8) with no
/// measurable cost to throughput. `MALLOC_ARENA_MAX` decides, read here rather than by glibc
/// so that a value in `.env` counts too.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    let arenas = std::env::var("MALLOC_ARENA_MAX")
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(2);
    // SAFETY: mallopt only sets an allocator parameter, under glibc's own lock; a refused
    // value is ignored (it returns 0). Called before the runtime's threads start.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
