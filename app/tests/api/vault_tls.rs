//! Vault in production form, against OpenBao over TLS (its dev mode's own CA) started by the
//! test: the boot overlay reads a secret inside a namespace (`VAULT_NAMESPACE`, sent as
//! `X-Vault-Namespace`) after a JWT login with a key the test generates; without the CA, or
//! without the namespace, the start stops and says why. The Kubernetes login is the same call to
//! the Kubernetes method: shown reaching it (which then asks a Kubernetes API that is not here).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use serde_json::{Value, json};

use policy_service::platform::{
    secrets::settings::VaultSettings,
    tls::{Tls, TlsSettings},
};

use crate::secrets::{landlord, run, stderr};
use crate::support::{certs, free_port};

const NAMESPACE: &str = "team-a";

/// OpenBao in dev mode over TLS on a free port, root token `root`; its CA in `dir`.
struct Bao {
    addr: String,
    ca: PathBuf,
    http: reqwest::Client,
    child: Child,
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Bao {
    async fn start(dir: &Path) -> Bao {
        let port = free_port();
        let child = Command::new(crate::secrets::binary())
            .args(["server", "-dev", "-dev-tls", "-dev-root-token-id=root"])
            .arg(format!("-dev-tls-cert-dir={}", dir.display()))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bao runs (scripts/test.sh installs it: ensure_openbao)");
        let ca = dir.join("vault-ca.pem");
        let until = Instant::now() + crate::support::PATIENCE;
        while !ca.exists() {
            assert!(Instant::now() < until, "OpenBao wrote no CA");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("CA")).expect("CA");
        let http = reqwest::Client::builder()
            .add_root_certificate(root)
            .build()
            .expect("client");
        let bao = Bao {
            addr: format!("https://127.0.0.1:{port}"),
            ca,
            http,
            child,
        };
        let health = format!("{}/v1/sys/health", bao.addr);
        while !bao
            .http
            .get(&health)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < until, "OpenBao did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bao
    }

    /// A root call at `path`, inside `namespace` when given.
    async fn call(&self, namespace: Option<&str>, path: &str, body: Value) {
        let mut request = self
            .http
            .post(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", "root")
            .json(&body);
        if let Some(namespace) = namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        let resp = request.send().await.expect("OpenBao answers");
        let status = resp.status();
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            resp.text().await.unwrap_or_default()
        );
    }
}

/// An RSA key pair (`jwt.key`, `jwt.pub`) and a token signed with it (RS256) for `claims`.
fn signed_token(dir: &Path, claims: Value) -> (String, String) {
    let key = dir.join("jwt.key");
    certs::run(
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048"),
    );
    let public = dir.join("jwt.pub");
    certs::run(
        Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public),
    );
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let signing_input = format!(
        "{}.{}",
        b64(json!({"alg": "RS256", "typ": "JWT"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let input = dir.join("jwt.input");
    std::fs::write(&input, &signing_input).expect("input");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(&key)
        .arg(&input)
        .output()
        .expect("openssl signs");
    assert!(out.status.success());
    let token = format!("{signing_input}.{}", b64(&out.stdout));
    (token, std::fs::read_to_string(public).expect("public key"))
}

#[tokio::test]
async fn a_jwt_login_reads_a_namespaced_secret_over_tls_and_a_kubernetes_login_is_the_same_call() {
    let dir = tempfile::tempdir().expect("dir");
    let bao = Bao::start(dir.path()).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (jwt, public) = signed_token(
        dir.path(),
        json!({"sub": "system:serviceaccount:insurance:policy-service", "aud": ["policy-service"],
               "iss": "policy-service-test", "iat": now, "exp": now + 600,
               // A projected service account token's claims, which the Kubernetes method reads.
               "kubernetes.io": {"namespace": "insurance",
                                 "serviceaccount": {"name": "policy-service", "uid": "0b6c4d2e"}}}),
    );
    let jwt_file = dir.path().join("token");
    std::fs::write(&jwt_file, &jwt).expect("token file");

    let ns = Some(NAMESPACE);
    bao.call(None, &format!("sys/namespaces/{NAMESPACE}"), json!({}))
        .await;
    bao.call(
        ns,
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    bao.call(
        ns,
        "secret/data/policy-service",
        json!({"data": {"LANDLORD_DATABASE": "from_namespace"}}),
    )
    .await;
    bao.call(
        ns,
        "sys/policies/acl/read-config",
        json!({"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    let role = json!({"role_type": "jwt", "bound_audiences": ["policy-service"], "user_claim": "sub",
                      "token_policies": ["read-config"], "token_ttl": "1h"});
    bao.call(ns, "sys/auth/jwt", json!({"type": "jwt"})).await;
    bao.call(
        ns,
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [public]}),
    )
    .await;
    bao.call(ns, "auth/jwt/role/policy-service", role).await;
    // The Kubernetes method, configured as in a cluster; the API it asks is not here.
    bao.call(ns, "sys/auth/kubernetes", json!({"type": "kubernetes"}))
        .await;
    bao.call(
        ns,
        "auth/kubernetes/config",
        json!({
            "disable_local_ca_jwt": true,
            "kubernetes_ca_cert": std::fs::read_to_string(&bao.ca).expect("CA"),"kubernetes_host": format!("https://127.0.0.1:{}", free_port())}),
    )
    .await;
    bao.call(
        ns,
        "auth/kubernetes/role/policy-service",
        json!({"bound_service_account_names": ["policy-service"],
        "bound_service_account_namespaces": ["insurance"], "token_policies": ["read-config"]}),
    )
    .await;

    let (ca, token_path) = (bao.ca.display().to_string(), jwt_file.display().to_string());
    let env = |login: &[(&'static str, &str)], namespace: bool, ca_too: bool| {
        let mut env: Vec<(&str, String)> = vec![
            ("VAULT_ADDR", bao.addr.clone()),
            ("VAULT_KV_PATH", "policy-service".into()),
            ("LANDLORD_DATABASE", "from_env".into()),
        ];
        env.extend(login.iter().map(|(k, v)| (*k, (*v).to_owned())));
        if namespace {
            env.push(("VAULT_NAMESPACE", NAMESPACE.into()));
        }
        if ca_too {
            env.push(("VAULT_CACERT", ca.clone()));
        }
        env
    };
    let call = |env: Vec<(&str, String)>| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run(dir.path(), &env, &["tenants", "list"]);
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!printed.contains(&jwt), "the JWT was printed");
        out
    };
    let jwt_login = [
        ("VAULT_JWT_ROLE", "policy-service"),
        ("VAULT_JWT_PATH", token_path.as_str()),
    ];

    let ok = call(env(&jwt_login, true, true));
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(landlord(dir.path(), "from_namespace") && !landlord(dir.path(), "from_env"));

    let untrusted = call(env(&jwt_login, true, false));
    assert!(!untrusted.status.success());
    let e = stderr(&untrusted);
    assert!(e.contains("certificate") && e.contains("JWT login"), "{e}");

    let outside = call(env(&jwt_login, false, true));
    assert!(!outside.status.success());
    let e = stderr(&outside);
    assert!(e.contains("JWT login as policy-service (auth/jwt)"), "{e}");

    let k8s_login = [
        ("VAULT_K8S_ROLE", "policy-service"),
        ("VAULT_K8S_TOKEN_PATH", token_path.as_str()),
    ];
    let k8s = call(env(&k8s_login, true, true));
    assert!(!k8s.status.success());
    let e = stderr(&k8s);
    // OpenBao's Kubernetes method took the login, checked the token's service account against
    // the role (a name outside it is "service account name not authorized"), then asked the
    // cluster's TokenReview API, which is not here: a 403 from the method itself.
    assert!(e.contains("403 Forbidden permission denied"), "{e}");

    // A login's token is kept, and redone once two thirds of its lease have passed.
    let short = json!({"role_type": "jwt", "bound_audiences": ["policy-service"], "user_claim": "sub",
                       "token_policies": ["read-config"], "token_ttl": "6s", "token_max_ttl": "6s"});
    bao.call(ns, "auth/jwt/role/short", short).await;
    let settings = VaultSettings {
        vault_addr: Some(bao.addr.clone()),
        vault_token: None,
        vault_cacert: Some(bao.ca.clone()),
        vault_client_cert: None,
        vault_client_key: None,
        vault_namespace: Some(NAMESPACE.into()),
        vault_k8s_role: None,
        vault_k8s_token_path: None,
        vault_k8s_mount: None,
        vault_jwt_role: Some("short".into()),
        vault_jwt_path: Some(jwt_file.clone()),
        vault_jwt_mount: None,
    };
    let tls = Tls::load(&TlsSettings {
        extra_ca_certs: None,
    })
    .expect("TLS roots");
    let vault = settings.vault(&tls).expect("settings").expect("VAULT_ADDR");
    let accessor = async || {
        let me = vault.request(reqwest::Method::GET, "auth/token/lookup-self", None);
        me.await.expect("lookup-self")["data"]["accessor"].clone()
    };
    let first = accessor().await;
    assert_eq!(accessor().await, first, "the login's token is kept");
    // At least 4 s (two thirds of 6): a lower bound, however busy the machine.
    tokio::time::sleep(Duration::from_millis(4_200)).await;
    assert_ne!(
        accessor().await,
        first,
        "logged in again before the lease ended"
    );
}
