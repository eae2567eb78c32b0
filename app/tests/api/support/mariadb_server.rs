//! A private MariaDB a test starts on a free loopback port and stops by PID: its own data folder,
//! a test CA's certificate for `localhost`, and `require_secure_transport=ON`, so only TLS
//! clients get in. The machine's MariaDB (3306) is shared by every test and left as it is.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::support::{PATIENCE, certs, free_port};

pub struct TlsMariaDb {
    pub port: u16,
    /// The CA that signed the server's certificate.
    pub ca: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl TlsMariaDb {
    pub async fn start() -> TlsMariaDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path();
        let ca = certs::authority(path, "ca");
        let other_ca = certs::authority(path, "other-ca");
        certs::server(path);
        let data = path.join("data");
        certs::run(
            Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--user=root", "--auth-root-authentication-method=normal"])
                .arg("--skip-test-db"),
        );
        let port = free_port();
        let socket = path.join("mysqld.sock");
        let child = Command::new(mariadbd())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin"])
            // Clients on 127.0.0.1 are the account `root@127.0.0.1` made below, however they named it.
            .arg("--skip-name-resolve")
            .arg(format!("--pid-file={}", path.join("mysqld.pid").display()))
            .arg(format!("--ssl-ca={}", ca.display()))
            .arg(format!("--ssl-cert={}", path.join("server.pem").display()))
            .arg(format!("--ssl-key={}", path.join("server.key").display()))
            .arg("--require-secure-transport=ON")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd runs (scripts/test.sh installs it)");
        let server = TlsMariaDb {
            port,
            ca,
            other_ca,
            child,
            _dir: dir,
        };
        // Over the socket (secure by the server's rules) until it answers; then root may also
        // come in over TCP, which is what the service does.
        let until = Instant::now() + PATIENCE;
        let grant = "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; \
                     GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;";
        while !Command::new("mariadb")
            .arg(format!("--socket={}", socket.display()))
            .args(["-uroot", "-e", grant])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                Instant::now() < until,
                "mariadbd on {port} did not start within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        server
    }

    /// DATABASE_URL for it, by `host` (`localhost` is in its certificate; `127.0.0.1` is not).
    pub fn url(&self, host: &str) -> String {
        format!("mysql://root@{host}:{}", self.port)
    }
}

impl Drop for TlsMariaDb {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn mariadbd() -> &'static str {
    if Path::new("/usr/sbin/mariadbd").exists() {
        "/usr/sbin/mariadbd"
    } else {
        "mariadbd"
    }
}
