//! Certificates a test makes with `openssl`: a CA of its own, and a server certificate for
//! `localhost` only (so `127.0.0.1` is a host name it does not name), signed by it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Runs `command`, failing the test with its stderr if it fails.
pub fn run(command: &mut Command) {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `<name>.pem` (and its key) in `dir`.
pub fn authority(dir: &Path, name: &str) -> PathBuf {
    let pem = dir.join(format!("{name}.pem"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN=policy-service test {name}")])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(&pem));
    pem
}

/// `server.pem` (and `server.key`) for `localhost` only, signed by `ca.pem` in `dir`.
pub fn server(dir: &Path) {
    server_for(dir, "DNS:localhost");
}

/// `server.pem` (and `server.key`) for the names `san` lists (`DNS:localhost,IP:127.0.0.1`),
/// signed by `ca.pem` in `dir`.
pub fn server_for(dir: &Path, san: &str) {
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.csr")));
    let extensions = dir.join("server.ext");
    std::fs::write(&extensions, format!("subjectAltName={san}\n")).expect("extensions");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(dir.join("server.csr"))
        .arg("-CA")
        .arg(dir.join("ca.pem"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(&extensions)
        .arg("-out")
        .arg(dir.join("server.pem")));
}
