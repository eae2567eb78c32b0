//! MariaDB over TLS, against a private server that takes nothing else
//! (`support::mariadb_server`): the service connects with the CA and verifies the server; a
//! wrong CA, or a host name the certificate does not name, stops the start naming the database
//! and the reason; a client without TLS is refused by the server.
//!
//! The server's certificate names `localhost` only, so `127.0.0.1` is the wrong host name.

use sqlx::{Connection, MySqlConnection};

use crate::support::{Engine, build_with, mariadb_server::TlsMariaDb, spawn_with, unique};

/// The flags and secret of an app on `server` at `host`, trusting `ca` and verifying.
fn on(server: &TlsMariaDb, host: &str, ca: &std::path::Path) -> [String; 4] {
    [
        format!("DATABASE_URL={}", server.url(host)),
        "--ssl-ca".into(),
        ca.display().to_string(),
        "--ssl-verify-server-cert".into(),
    ]
}

#[tokio::test]
async fn the_service_reaches_mariadb_over_verified_tls_and_plain_clients_are_refused() {
    let server = TlsMariaDb::start().await;
    let flags = on(&server, "localhost", &server.ca);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::MariaDb, &flags).await;
    let t = app.tenant().await;
    t.bound_policy().await;
    let (_, version): (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .fetch_one(app.state.tenancy.landlord().pool())
        .await
        .expect("the landlord answers");
    assert!(
        version.starts_with("TLS"),
        "landlord connection: {version:?}"
    );

    // The same account, with TLS and without: MariaDB 10.11 answers an insecure client of a
    // `require_secure_transport` server as a refused login (1045).
    let url = |mode: &str| format!("{}/mysql?ssl-mode={mode}", server.url("127.0.0.1"));
    let tls = MySqlConnection::connect(&url("REQUIRED")).await;
    assert!(tls.is_ok(), "with TLS: {:?}", tls.err());
    let refused = MySqlConnection::connect(&url("DISABLED")).await.err();
    let message = refused.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("1045"), "without TLS: {message}");
}

#[tokio::test]
async fn a_wrong_ca_or_host_name_stops_the_start_naming_the_database() {
    let server = TlsMariaDb::start().await;
    for (host, ca, why) in [
        ("localhost", &server.other_ca, "UnknownIssuer"),
        ("127.0.0.1", &server.ca, "not valid for name"),
    ] {
        let landlord = format!("pstls_{}_landlord", unique());
        let mut flags = on(&server, host, ca).to_vec();
        flags.extend(["--landlord-database".into(), landlord.clone()]);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let (built, _dir) = build_with(Engine::MariaDb, &flags).await;
        let message = built.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&format!("cannot open database {landlord}"))
                && message.contains(&format!("{host}:{}", server.port))
                && message.contains(why),
            "{host} with {}: {message}",
            ca.display()
        );
    }
}
