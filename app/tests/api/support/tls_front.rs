//! A TLS front for a server that speaks only plaintext (rotel, the Loki stand-in, s3s-fs): it
//! terminates TLS with `server.pem` from `certs`, relays the bytes both ways to the server, and
//! keeps what clients sent, decrypted, so a test can read the headers a client put on the wire.
//! With `clients`, it also asks for a client certificate chaining to that CA (mTLS).

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::ring::default_provider,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
    },
};

pub struct TlsFront {
    pub port: u16,
    /// Every byte clients sent, decrypted, in arrival order.
    seen: Arc<Mutex<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl TlsFront {
    /// What clients have sent so far, as text (lossy).
    pub fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on a free loopback port with `dir`'s `server.pem` and `server.key`, relaying to
/// `backend`.
pub async fn start(dir: &Path, backend: SocketAddr, clients: Option<&Path>) -> TlsFront {
    let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("server.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("server.pem parses");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).expect("client CA") {
                roots
                    .add(cert.expect("client CA parses"))
                    .expect("client CA");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .expect("certificate and key");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, kept) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends here, as it should.
                let Ok(tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(plain) = TcpStream::connect(backend).await else {
                    return;
                };
                relay(tls, plain, kept).await;
            });
        }
    });
    TlsFront { port, seen, task }
}

async fn relay(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    plain: TcpStream,
    kept: Arc<Mutex<Vec<u8>>>,
) {
    let (mut tls_read, mut tls_write) = tokio::io::split(tls);
    let (mut plain_read, mut plain_write) = plain.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = tls_read.read(&mut buf).await {
            if n == 0 || plain_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            kept.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        plain_write.shutdown().await.ok();
    };
    let downstream = async {
        tokio::io::copy(&mut plain_read, &mut tls_write).await.ok();
        tls_write.shutdown().await.ok();
    };
    tokio::join!(upstream, downstream);
}
