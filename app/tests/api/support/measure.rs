//! What abuse tests read off a server process: its resident memory and CPU time (from /proc,
//! so figures, not timings), and whether `/health/live` kept answering throughout.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// CPU time process `pid` has used (user + system).
pub fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).expect("stat");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after `state`.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf only reads a constant of the system.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Asks `/health/live` every 50 ms in the background; `finish` says how it went.
pub struct HealthWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64, Duration)>,
}

/// One probe may take this long before it counts as unanswered: well above the 100 ms the
/// issue asks for (which `loadtests/abuse.sh` measures on a quiet machine), so a busy CI
/// machine does not fail it, and well below the kubelet's 1 s probe timeout.
const ANSWERED_WITHIN: Duration = Duration::from_millis(900);

impl HealthWatch {
    pub fn start(address: &str) -> HealthWatch {
        let url = format!("{address}/health/live");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            // A client of its own: the probe opens a connection as the kubelet does.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let (mut asked, mut failed, mut worst_seen) = (0, 0, Duration::ZERO);
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                let answered = tokio::time::timeout(ANSWERED_WITHIN, http.get(&url).send()).await;
                let took = started.elapsed();
                asked += 1;
                worst_seen = worst_seen.max(took);
                if !matches!(answered, Ok(Ok(ref r)) if r.status() == 200) {
                    failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (asked, failed, worst_seen)
        });
        HealthWatch { stop, task }
    }

    /// Stops it; asserts every probe was answered, and returns the slowest.
    pub async fn finish(self, what: &str) -> Duration {
        self.stop.store(true, Ordering::SeqCst);
        let (asked, failed, worst) = self.task.await.expect("health watch");
        println!(
            "{what}: /health/live asked {asked} times, slowest {worst:?}, {failed} unanswered"
        );
        assert!(asked > 0, "{what}: health was never asked");
        assert_eq!(
            failed, 0,
            "{what}: /health/live went unanswered {failed} times of {asked}"
        );
        worst
    }
}

/// The most resident memory process `pid` had while it ran (sampled every 10 ms).
pub struct PeakRss {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl PeakRss {
    pub fn start(pid: u32) -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = rss_kib(pid);
            while !flag.load(Ordering::SeqCst) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak.max(rss_kib(pid))
        });
        PeakRss { stop, task }
    }

    /// The peak, in KiB.
    pub async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("memory sampler")
    }
}
