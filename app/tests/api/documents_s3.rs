//! Documents on S3, against real S3-compatible servers the tests start (`s3_server`): what the
//! objects look like (moto keeps storage classes, SSE and metadata), GLACIER's restore, signed
//! requests and presigned URLs that expire (s3s-fs checks signatures), the sweep after a crash,
//! and a store that goes away.

use std::time::Duration;

use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use reqwest::Method;

use crate::{
    both_engines,
    documents::{PDF, PNG, download, form, location, policy_and_claim, upload},
    support::s3_server::{PRIVATE, PUBLIC, S3Server},
    support::{Engine, TenantClient, eventually, spawn_with},
};

async fn app_on(server: &S3Server, engine: Engine, extra: &[&str]) -> crate::support::TestApp {
    let flags = server.flags();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    spawn_with(engine, &args).await
}

async fn tenant_id(app: &crate::support::TestApp, t: &TenantClient) -> String {
    let tenant = app.state.tenancy.resolve(&t.slug).await.expect("landlord");
    tenant.expect("tenant").id.clone()
}

/// moto: each document type's storage class, SSE on the private bucket, the seed's metadata and
/// key; an archived document restored on demand.
async fn objects_are_stored_as_the_seed_stores_them(engine: Engine) {
    let s3 = S3Server::moto().await;
    let app = app_on(&s3, engine, &[]).await;
    let a = app.tenant().await;
    let tenant = tenant_id(&app, &a).await;
    let (policy_id, claim_id) = policy_and_claim(&a).await;
    let policy_docs = format!("/v1/policies/{policy_id}/documents");
    let cases = [
        (
            policy_docs.as_str(),
            PDF,
            "application/pdf",
            "active_policy",
            StorageClass::Standard,
            "pdf",
        ),
        (
            &format!("/v1/claims/{claim_id}/documents"),
            PNG,
            "image/png",
            "claim_photo",
            StorageClass::StandardIa,
            "png",
        ),
        (
            policy_docs.as_str(),
            PDF,
            "application/pdf",
            "archived_policy",
            StorageClass::Glacier,
            "pdf",
        ),
    ];
    let mut archived = String::new();
    for (path, bytes, mime, kind, class, ext) in cases {
        let doc = upload(&a, path, form(bytes, mime, kind, None))
            .await
            .ok(201)
            .clone();
        let id = doc["id"].as_str().expect("id").to_owned();
        let key = format!("tenant/{tenant}/documents/{id}.{ext}");
        let head = s3
            .client()
            .head_object()
            .bucket(PRIVATE)
            .key(&key)
            .send()
            .await;
        let head = head.unwrap_or_else(|e| panic!("{key}: {e:?}"));
        // S3 leaves the header out for STANDARD, as moto does.
        assert_eq!(
            head.storage_class().unwrap_or(&StorageClass::Standard),
            &class,
            "{kind}"
        );
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        let meta = head.metadata().cloned().unwrap_or_default();
        assert_eq!(meta.get("document-id"), Some(&id));
        assert_eq!(meta.get("document-type").map(String::as_str), Some(kind));
        assert_eq!(meta.get("tenant-id"), Some(&tenant));
        if class == StorageClass::Glacier {
            archived = id;
        } else {
            assert_eq!(download(&a, &id).await.2, bytes);
        }
    }
    // GLACIER: the first download starts the restore and says so; moto restores at once.
    let archived_download = a.get(&format!("/v1/documents/{archived}/content")).await;
    archived_download.conflict("document_archived");
    assert_eq!(download(&a, &archived).await.2, PDF);
    assert_eq!(location(&a, &archived).await.0, 307);

    let public = upload(
        &a,
        &policy_docs,
        form(PDF, "application/pdf", "other", Some("public")),
    )
    .await;
    let public = public.ok(201).clone();
    let key = format!(
        "tenant/{tenant}/documents/{}.pdf",
        public["id"].as_str().unwrap_or_default()
    );
    let head = s3
        .client()
        .head_object()
        .bucket(PUBLIC)
        .key(&key)
        .send()
        .await
        .expect("public object");
    assert_eq!(
        head.server_side_encryption(),
        None,
        "as the seed's s3-public disk"
    );
    assert_eq!(
        public["url"],
        format!("{}/{PUBLIC}/{key}", s3.endpoint()).as_str()
    );
    assert_eq!(
        reqwest::get(public["url"].as_str().unwrap_or_default())
            .await
            .expect("url")
            .bytes()
            .await
            .expect("bytes")
            .as_ref(),
        PDF
    );
}

/// s3s-fs checks every signature: the whole round trip on both buckets, and a presigned URL
/// that works until it expires.
async fn signed_round_trip_and_expiring_urls(engine: Engine) {
    let s3 = S3Server::s3s_fs().await;
    // Long enough for the URL to be fetched in time on a busy machine (X-Amz-Date has 1 s
    // granularity too).
    let app = app_on(&s3, engine, &["--documents-url-ttl-secs", "10"]).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let mut ids = vec![];
    for visibility in ["private", "public"] {
        let doc = upload(
            &a,
            &path,
            form(PDF, "application/pdf", "active_policy", Some(visibility)),
        )
        .await;
        let id = doc.ok(201)["id"].as_str().expect("id").to_owned();
        let (status, _, bytes) = download(&a, &id).await;
        assert_eq!((status, bytes.as_slice()), (200, PDF), "{visibility}");
        ids.push(id);
    }
    assert_eq!(s3.keys(PRIVATE).await.len(), 1);
    assert_eq!(s3.keys(PUBLIC).await.len(), 1);
    let listed = a.get(&path).await;
    assert_eq!(listed.ok(200)["items"].as_array().map(Vec::len), Some(2));

    let (status, url) = location(&a, &ids[0]).await;
    assert_eq!(status, 307);
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let fresh = reqwest::get(&url).await.expect("presigned");
    assert_eq!(fresh.status(), 200);
    assert_eq!(fresh.bytes().await.expect("bytes").as_ref(), PDF);
    let unsigned = url.split('?').next().unwrap_or_default().to_owned();
    assert_eq!(
        reqwest::get(&unsigned).await.expect("unsigned").status(),
        403
    );
    // Not before its 10 s are over; then, however late a busy machine asks, refused.
    tokio::time::sleep(Duration::from_secs(10)).await;
    eventually("the presigned URL expired", || async {
        reqwest::get(&url).await.expect("expired").status() == 403
    })
    .await;

    for id in &ids {
        b.send(b.request(Method::DELETE, &format!("/v1/documents/{id}")))
            .await
            .problem(404, None);
        assert_eq!(
            a.send(a.request(Method::DELETE, &format!("/v1/documents/{id}")))
                .await
                .status,
            204
        );
    }
    assert!(s3.keys(PRIVATE).await.is_empty() && s3.keys(PUBLIC).await.is_empty());
}

both_engines!(
    objects_are_stored_as_the_seed_stores_them,
    signed_round_trip_and_expiring_urls
);

/// A crash between the object and the row (simulated: the object written, the row left
/// `pending` long ago; a delete left `deleting`): the sweep job removes objects, then rows.
#[tokio::test]
async fn the_sweep_finishes_what_a_crash_left() {
    let s3 = S3Server::moto().await;
    let app = app_on(&s3, Engine::MariaDb, &[]).await;
    let a = app.tenant().await;
    let tenant = tenant_id(&app, &a).await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let kept = upload(&a, &path, form(PDF, "application/pdf", "other", None))
        .await
        .ok(201)["id"]
        .clone();
    let mut stranded = vec![];
    for status in ["pending", "deleting"] {
        let doc = upload(&a, &path, form(PDF, "application/pdf", "other", None)).await;
        let id = doc.ok(201)["id"].as_str().expect("id").to_owned();
        sqlx::query("UPDATE documents SET status = ?, updated_at = 0 WHERE id = ?")
            .bind(status)
            .bind(&id)
            .execute(a.db.pool())
            .await
            .expect("direct SQL");
        stranded.push(id);
    }
    assert_eq!(s3.keys(PRIVATE).await.len(), 3);
    for id in &stranded {
        a.get(&format!("/v1/documents/{id}"))
            .await
            .problem(404, None);
    }
    let db = a.db.clone();
    let swept =
        policy_service::services::documents::sweep(&app.state.documents, &db, &tenant).await;
    assert_eq!(swept.expect("sweep"), 2);
    let keys = s3.keys(PRIVATE).await;
    assert_eq!(
        keys,
        vec![format!(
            "tenant/{tenant}/documents/{}.pdf",
            kept.as_str().unwrap_or_default()
        )]
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(a.db.pool())
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

/// The store goes away: uploads get a clean 503 and no document appears; once the breaker is
/// open it answers at once. When the store is back, the breaker closes on its probe and the
/// sweep removes the rows the failed uploads could not undo.
#[tokio::test]
async fn a_store_that_is_down_is_a_clean_503() {
    let mut s3 = S3Server::moto().await;
    // Open long enough that the download after the failed uploads still finds it open (and
    // does not become its probe) on a busy machine.
    let app = app_on(
        &s3,
        Engine::Sqlite,
        &["--documents-breaker-open-secs", "10"],
    )
    .await;
    let a = app.tenant().await;
    let tenant = tenant_id(&app, &a).await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let id = upload(&a, &path, form(PDF, "application/pdf", "other", None))
        .await
        .ok(201)["id"]
        .clone();
    let id = id.as_str().unwrap_or_default().to_owned();
    s3.kill();
    for _ in 0..5 {
        upload(&a, &path, form(PDF, "application/pdf", "other", None))
            .await
            .problem(503, None);
    }
    let fast = a.get(&format!("/v1/documents/{id}/content")).await;
    let detail = fast.problem(503, None)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.contains("retry in"), "the breaker answers: {detail}");
    let listed = a.get(&path).await;
    assert_eq!(
        listed.ok(200)["items"].as_array().map(Vec::len),
        Some(1),
        "no failed upload shows"
    );

    let s3 = S3Server::moto_on(s3.port).await;
    // After the open time, an upload is the probe; it finds the store back and closes the
    // breaker (should a slow store fail it, the breaker opens again and a later probe goes).
    tokio::time::sleep(Duration::from_secs(10)).await;
    eventually("an upload once the store is back", || async {
        upload(&a, &path, form(PDF, "application/pdf", "other", None))
            .await
            .status
            == 201
    })
    .await;
    let old = "UPDATE documents SET updated_at = 0 WHERE status <> 'stored'";
    sqlx::query(old)
        .execute(a.db.pool())
        .await
        .expect("direct SQL");
    let swept =
        policy_service::services::documents::sweep(&app.state.documents, &a.db, &tenant).await;
    assert!(
        swept.expect("sweep") > 0,
        "failed uploads left rows for the sweep"
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE status <> 'stored'")
        .fetch_one(a.db.pool())
        .await
        .expect("count");
    assert_eq!(rows, 0);
    assert_eq!(
        s3.keys(PRIVATE).await.len(),
        1,
        "the new upload only (the old server's are gone)"
    );
}

/// An S3-compatible store over TLS with a private CA (s3s-fs, which checks every signature,
/// behind a TLS front): trusted through AWS_CA_BUNDLE, requests signed for AWS_REGION; without
/// the CA, the upload is a clean 503 and nothing is stored.
#[tokio::test]
async fn a_store_over_tls_with_a_private_ca_and_its_own_region() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = crate::support::certs::authority(dir.path(), "ca");
    crate::support::certs::server(dir.path());
    let s3 = S3Server::s3s_fs().await;
    let front =
        crate::support::tls_front::start(dir.path(), ([127, 0, 0, 1], s3.port).into(), None).await;
    let endpoint = format!("https://localhost:{}", front.port);
    let mut flags = s3.flags();
    let at = flags
        .iter()
        .position(|f| f == "--aws-endpoint")
        .expect("flag");
    flags[at + 1] = endpoint;
    let with = |extra: &[&str]| {
        let mut args: Vec<String> = flags.clone();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let trusted = with(&[
        "--aws-ca-bundle",
        &ca.display().to_string(),
        "--aws-region",
        "eu-central-2",
    ]);
    let args: Vec<&str> = trusted.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &args).await;
    let a = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let doc = upload(&a, &path, form(PDF, "application/pdf", "other", None)).await;
    let id = doc.ok(201)["id"].as_str().expect("id").to_owned();
    let (status, _, bytes) = download(&a, &id).await;
    assert_eq!((status, bytes.as_slice()), (200, PDF));
    let wire = front.seen();
    assert!(
        wire.contains("/eu-central-2/s3/aws4_request"),
        "signed for AWS_REGION"
    );
    assert_eq!(s3.keys(PRIVATE).await.len(), 1);

    let untrusted = with(&["--aws-region", "eu-central-2"]);
    let args: Vec<&str> = untrusted.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &args).await;
    let a = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    upload(&a, &path, form(PDF, "application/pdf", "other", None))
        .await
        .problem(503, None);
    assert_eq!(s3.keys(PRIVATE).await.len(), 1, "nothing more stored");
}
