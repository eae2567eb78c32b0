//! Stdout for JSON log lines, written by a thread of its own.
//!
//! Why: stdout is line-buffered, so writing from the event meant one `write` system call per
//! line on a request's thread; with an access line per request that cost about a tenth of the
//! request rate in `bench-telemetry.sh`. Here a line goes into a bounded queue, and every 20 ms
//! the writer thread empties the queue through a 64 KiB buffer: one system call per 64 KiB or
//! per 20 ms, not per line. A full queue drops the line and counts it in
//! `telemetry_dropped_total{signal="stdout"}`, like the other signals: a stuck log reader never
//! stalls requests. `flush` writes out what is queued (shutdown).

use std::{
    io::{BufWriter, Write},
    sync::{
        Arc,
        mpsc::{self, Receiver, SyncSender, TryRecvError},
    },
    time::Duration,
};

use crate::{Error, spare::Spare};

/// How often the writer wakes to empty the queue. Woken by each line instead, it would cost a
/// thread wake-up per line, dearer than the system call it saves.
const PACE: Duration = Duration::from_millis(20);

enum Queued {
    /// With its newline.
    Line(String),
    Flush(mpsc::Sender<()>),
}

#[derive(Clone)]
pub(crate) struct Stdout {
    tx: SyncSender<Queued>,
}

/// The writer thread, onto stdout, or stderr with `to_stderr`; written lines go back to
/// `spare`.
pub(crate) fn start(
    capacity: usize,
    to_stderr: bool,
    spare: Arc<Spare<String>>,
) -> Result<Stdout, Error> {
    let (tx, rx) = mpsc::sync_channel(capacity.max(1));
    let sink: Box<dyn Write + Send> = if to_stderr {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    std::thread::Builder::new()
        .name("stdout-lines".into())
        .spawn(move || write_out(&rx, sink, &spare))
        .map_err(|e| Error::Stdout(e.to_string()))?;
    Ok(Stdout { tx })
}

impl Stdout {
    /// Queues a line (with its newline); never waits.
    pub fn send(&self, line: String) {
        if self.tx.try_send(Queued::Line(line)).is_err() {
            crate::metrics::dropped("stdout", 1);
        }
    }

    /// Writes out what is queued, waiting at most `within`. Blocks: call it off async threads.
    pub fn flush(&self, within: Duration) {
        let (done, flushed) = mpsc::channel();
        if self.tx.send(Queued::Flush(done)).is_ok() {
            flushed.recv_timeout(within).ok();
        }
    }
}

fn write_out(rx: &Receiver<Queued>, sink: Box<dyn Write + Send>, spare: &Spare<String>) {
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    // A closed stdout (a detached process) must not take the service down: errors are ignored.
    loop {
        std::thread::sleep(PACE);
        loop {
            match rx.try_recv() {
                Ok(Queued::Line(line)) => {
                    out.write_all(line.as_bytes()).ok();
                    spare.give(line);
                }
                Ok(Queued::Flush(done)) => {
                    out.flush().ok();
                    done.send(()).ok();
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    out.flush().ok();
                    return;
                }
            }
        }
        out.flush().ok();
    }
}
