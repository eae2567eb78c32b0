//! A TCP proxy a test puts in front of a server (MariaDB) to break the path on command: pass,
//! stall (connections accepted and held, nothing forwarded), or drop (every connection, open or
//! new, closed at once). It also notes what clients send, one entry per read: for MariaDB's
//! request/response protocol one per round trip, holding the command byte (14 ping, 22 prepare,
//! 23 execute). No toxiproxy or netem here: a few lines of tokio.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Stall,
    Drop,
}

pub struct FaultProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    sent: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free loopback port to `target` (`host:port`), passing.
    pub async fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy listens");
        let port = listener.local_addr().expect("addr").port();
        let (mode, watching) = watch::channel(Mode::Pass);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (target, counted) = (target.to_owned(), sent.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(
                    client,
                    target.clone(),
                    watching.clone(),
                    counted.clone(),
                ));
            }
        });
        FaultProxy {
            port,
            mode,
            sent,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// What clients sent so far, a MariaDB command byte per round trip.
    pub fn sent(&self) -> Vec<u8> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    target: String,
    mut mode: watch::Receiver<Mode>,
    sent: Arc<Mutex<Vec<u8>>>,
) {
    // A stalled path holds what arrives; a dropped one closes it.
    loop {
        match *mode.borrow_and_update() {
            Mode::Pass => break,
            Mode::Drop => return,
            Mode::Stall => {}
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        tokio::select! {
            read = client_read.read(&mut up) => match read {
                Ok(n) if n > 0 => {
                    if let Ok(mut sent) = sent.lock() {
                        sent.push(up.get(4).copied().unwrap_or_default());
                    }
                    if server_write.write_all(&up[..n]).await.is_err() { return; }
                }
                _ => return,
            },
            read = server_read.read(&mut down) => match read {
                Ok(n) if n > 0 => {
                    if client_write.write_all(&down[..n]).await.is_err() { return; }
                }
                _ => return,
            },
            changed = mode.changed() => {
                let now = *mode.borrow_and_update();
                match (changed, now) {
                    (Err(_), _) | (_, Mode::Drop) => return,
                    (_, Mode::Stall) => {
                        // Held open, nothing forwarded, until the path is dropped or passes
                        // again (then this connection is closed: its requests were lost).
                        while mode.changed().await.is_ok() && *mode.borrow() == Mode::Stall {}
                        return;
                    }
                    (_, Mode::Pass) => {}
                }
            }
        }
    }
}
