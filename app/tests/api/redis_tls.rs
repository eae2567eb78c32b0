//! Redis over TLS (`rediss://`) with a private CA, against a `redis-server` of the test's own
//! that also listens in plain text on a second port, for the test's own look at its keys.

use std::path::Path;

use crate::support::{
    Engine, PATIENCE, build_with, certs, free_port,
    redis_server::{Cluster, RedisServer, tls_args},
    spawn_with, unique,
};

/// A TLS Redis whose certificate, for `localhost`, is signed by `dir`'s `ca.pem`, with an ACL
/// user `alice` (password `s3cret`); its TLS port.
async fn tls_redis(dir: &Path) -> (RedisServer, u16) {
    certs::authority(dir, "ca");
    certs::server(dir);
    let tls_port = free_port();
    let mut args = tls_args(dir, tls_port);
    // An ACL user beside `default` (which the test's own redis-cli keeps using).
    args.extend(["--user", "alice", "on", ">s3cret", "~*", "&*", "+@all"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = RedisServer::on(free_port(), &args).await;
    (server, tls_port)
}

#[tokio::test]
async fn cache_queue_and_backplane_work_over_tls_as_an_acl_user_and_a_wrong_ca_or_password_stops_the_start()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, tls_port) = tls_redis(dir.path()).await;
    let url = format!("REDIS_URL=rediss://alice:s3cret@localhost:{tls_port}");
    let ca = dir.path().join("ca.pem").display().to_string();
    let prefix = format!("pstest:{}:", unique());
    let flags = [
        url.as_str(),
        "--redis-prefix",
        &prefix,
        "--redis-tls-ca-cert-file",
        &ca,
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let redis = app.state.redis.clone().expect("Redis configured");
    assert!(redis.wait_up(PATIENCE).await, "PING over TLS");
    assert!(
        app.state.cache.backplane_up(PATIENCE).await,
        "the backplane subscribed over TLS"
    );
    // A bound policy's jobs go to the Redis queues and its reads through L2: both only over the
    // TLS port, since the app knows no other.
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap_or_default());
    t.get(&path).await.ok(200);
    let keys = String::from_utf8_lossy(&server.cli(&["--scan"]).stdout).into_owned();
    assert!(keys.contains(":q:"), "queue keys over TLS: {keys}");
    assert!(keys.contains(&prefix), "cache keys over TLS: {keys}");

    // A wrong password: the login is refused, and the start stops saying so.
    let wrong = format!("REDIS_URL=rediss://alice:wrong@localhost:{tls_port}");
    let flags = [wrong.as_str(), "--redis-tls-ca-cert-file", &ca];
    let (built, _data) = build_with(Engine::Sqlite, &flags).await;
    let message = built.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("REDIS_URL: the server refused the login"),
        "{message}"
    );
    assert!(
        !message.contains("wrong"),
        "the password is never shown: {message}"
    );

    // Another CA: the certificate is refused, and the start stops saying so.
    certs::authority(dir.path(), "other-ca");
    let other = dir.path().join("other-ca.pem").display().to_string();
    let flags = [url.as_str(), "--redis-tls-ca-cert-file", &other];
    let (built, _data) = build_with(Engine::Sqlite, &flags).await;
    let message = built.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("REDIS_URL") && message.contains("UnknownIssuer"),
        "{message}"
    );
}

/// A Redis Cluster over TLS: its nodes announce `127.0.0.1`, which their certificate names.
#[tokio::test]
async fn a_redis_cluster_over_tls_serves_the_cache_and_the_backplane() {
    let dir = tempfile::tempdir().expect("temp dir");
    certs::authority(dir.path(), "ca");
    certs::server_for(dir.path(), "DNS:localhost,IP:127.0.0.1");
    let (_cluster, ports) = Cluster::start_tls(dir.path()).await;
    let nodes: Vec<String> = ports
        .iter()
        .map(|p| format!("rediss://127.0.0.1:{p}"))
        .collect();
    let url = format!("REDIS_URL={}", nodes.join(","));
    let ca = dir.path().join("ca.pem").display().to_string();
    let prefix = format!("pstest:{}:", unique());
    let flags = [
        url.as_str(),
        "--redis-prefix",
        &prefix,
        "--redis-tls-ca-cert-file",
        &ca,
    ];
    let app = spawn_with(Engine::Sqlite, &flags).await;
    let replica = app.replica(&flags).await;
    for a in [&app, &replica] {
        let redis = a.state.redis.clone().expect("Redis configured");
        assert!(redis.wait_up(PATIENCE).await, "PING over TLS");
        assert!(
            a.state.cache.backplane_up(PATIENCE).await,
            "the backplane subscribed over TLS"
        );
    }
    // Read on one replica, then on the other: the second is served from the cluster (L2), so
    // the other replica never opens the tenant's database.
    let t = app.tenant().await;
    let policy = t.bound_policy().await;
    let path = format!("/v1/policies/{}", policy["id"].as_str().unwrap_or_default());
    t.get(&path).await.ok(200);
    let other = replica.client_for(&t.slug).await;
    other.get(&path).await.ok(200);
    assert_eq!(
        replica.statements(&t.slug).await,
        0,
        "the other replica read it from the cluster"
    );
}
