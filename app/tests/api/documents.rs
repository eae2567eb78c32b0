//! Documents on the local disk (the embedded default), on both engines: the API's whole round
//! trip, tenants kept apart, bad uploads refused with nothing left behind, an upload cut off
//! mid-body leaving nothing, and a 100 MB upload streamed with flat memory.

use std::path::{Path, PathBuf};

use reqwest::{
    Method,
    multipart::{Form, Part},
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{
    both_engines,
    support::{Engine, Resp, TenantClient, TestApp, eventually, spawn_app, spawn_with},
};

pub const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n";
pub const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
];

/// `file` (with its declared type), `type`, and `visibility` if given.
pub fn form(bytes: &[u8], mime: &str, kind: &str, visibility: Option<&str>) -> Form {
    let part = Part::bytes(bytes.to_vec())
        .file_name("../scan.bin")
        .mime_str(mime)
        .expect("mime");
    let form = Form::new().text("type", kind.to_owned()).part("file", part);
    match visibility {
        Some(v) => form.text("visibility", v.to_owned()),
        None => form,
    }
}

pub async fn upload(t: &TenantClient, path: &str, form: Form) -> Resp {
    t.send(t.request(Method::POST, path).multipart(form)).await
}

/// The bytes of a download, with its headers.
pub async fn download(t: &TenantClient, id: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = t
        .request(Method::GET, &format!("/v1/documents/{id}/content"))
        .send()
        .await
        .expect("download");
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (
        status,
        headers,
        resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    )
}

/// Where `redirect=true` sends the client: the status and `Location`.
pub async fn location(t: &TenantClient, id: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let req = client
        .get(format!(
            "{}/v1/documents/{id}/content?redirect=true",
            t.base
        ))
        .header("X-Consumer-ID", format!("consumer-{}", t.slug))
        .header("X-Authenticated-Userid", "user-1")
        .header("X-Consumer-Custom-ID", &t.slug);
    let resp = req.send().await.expect("redirect");
    let status = resp.status().as_u16();
    let url = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, url)
}

/// An active policy and an open claim on it.
pub async fn policy_and_claim(t: &TenantClient) -> (String, String) {
    let policy = t.active_policy().await;
    let policy_id = policy["id"].as_str().expect("id").to_owned();
    let claim = t
        .post(
            "/v1/claims",
            serde_json::json!({
                "policy_id": policy_id,
                "incident_date": crate::support::today().to_string(),
                "description": "water damage",
                "amount_claimed_minor": 1000
            }),
        )
        .await;
    (policy_id, claim.id())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { vec![p] }
        })
        .collect()
}

fn data_dir(app: &TestApp) -> PathBuf {
    app.env
        .iter()
        .find(|(k, _)| *k == "DATA_DIR")
        .map(|(_, v)| PathBuf::from(v))
        .expect("DATA_DIR")
}

async fn round_trip_on_local_disk(engine: Engine) {
    let app = spawn_app(engine).await;
    let (a, b) = (app.tenant().await, app.tenant().await);
    let (policy_id, claim_id) = policy_and_claim(&a).await;

    let doc = upload(
        &a,
        &format!("/v1/policies/{policy_id}/documents"),
        form(PDF, "application/pdf", "active_policy", None),
    )
    .await;
    let doc = doc.ok(201).clone();
    let id = doc["id"].as_str().expect("id").to_owned();
    assert_eq!(doc["policy_id"], policy_id.as_str());
    assert_eq!(doc["type"], "active_policy");
    assert_eq!(doc["visibility"], "private");
    assert_eq!(
        doc["filename"], "scan.bin.pdf",
        "folders dropped, the type's extension added"
    );
    assert_eq!(doc["content_type"], "application/pdf");
    assert_eq!(doc["storage_class"], "STANDARD");
    assert_eq!(doc["sha256"], hex::encode(Sha256::digest(PDF)));
    assert!(
        doc.get("url").is_none(),
        "a private document has no public URL"
    );

    let (status, headers, bytes) = download(&a, &id).await;
    assert_eq!((status, bytes.as_slice()), (200, PDF));
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(headers["content-length"], PDF.len().to_string().as_str());
    let digest = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        Sha256::digest(PDF),
    );
    assert_eq!(
        headers["repr-digest"],
        format!("sha-256=:{digest}:").as_str()
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .contains("scan.bin")
    );

    // A signed URL, outside Kong: it works as given, and not with its signature changed.
    let (status, url) = location(&a, &id).await;
    assert_eq!(status, 307);
    assert!(
        url.contains("/storage/private/tenant/") && url.contains("signature="),
        "{url}"
    );
    let local = url.replacen("http://localhost:8080", &app.address, 1);
    let fetched = reqwest::get(&local).await.expect("signed URL");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.expect("bytes").as_ref(), PDF);
    let forged = local.replace("signature=", "signature=00");
    assert_eq!(reqwest::get(&forged).await.expect("forged").status(), 403);

    // A public photo of the claim: a URL anyone can fetch.
    let photo = upload(
        &a,
        &format!("/v1/claims/{claim_id}/documents"),
        form(PNG, "image/png", "claim_photo", Some("public")),
    )
    .await;
    let photo = photo.ok(201).clone();
    assert_eq!(photo["claim_id"], claim_id.as_str());
    assert_eq!(photo["storage_class"], "STANDARD_IA");
    let public =
        photo["url"]
            .as_str()
            .expect("url")
            .replacen("http://localhost:8080", &app.address, 1);
    assert_eq!(
        reqwest::get(&public)
            .await
            .expect("public")
            .bytes()
            .await
            .expect("bytes")
            .as_ref(),
        PNG
    );

    let listed = a.get(&format!("/v1/policies/{policy_id}/documents")).await;
    assert_eq!(
        listed.ok(200)["items"].as_array().map(Vec::len),
        Some(2),
        "the claim's photo is the policy's too"
    );
    let listed = a.get(&format!("/v1/claims/{claim_id}/documents")).await;
    assert_eq!(listed.ok(200)["items"][0]["id"], photo["id"]);

    // Tenant B: every id of A's is unknown, and so are A's policy and claim.
    for path in [
        format!("/v1/documents/{id}"),
        format!("/v1/documents/{id}/content"),
        format!("/v1/policies/{policy_id}/documents"),
        format!("/v1/claims/{claim_id}/documents"),
    ] {
        b.get(&path).await.problem(404, None);
    }
    b.send(b.request(Method::DELETE, &format!("/v1/documents/{id}")))
        .await
        .problem(404, None);
    let into_a = upload(
        &b,
        &format!("/v1/policies/{policy_id}/documents"),
        form(PDF, "application/pdf", "other", None),
    )
    .await;
    into_a.problem(404, None);
    a.get(&format!("/v1/documents/{id}")).await.ok(200);

    let dir = data_dir(&app).join("documents");
    assert_eq!(files_under(&dir).len(), 2);
    assert_eq!(
        a.send(a.request(Method::DELETE, &format!("/v1/documents/{id}")))
            .await
            .status,
        204
    );
    a.get(&format!("/v1/documents/{id}"))
        .await
        .problem(404, None);
    assert_eq!(download(&a, &id).await.0, 404);
    assert_eq!(files_under(&dir).len(), 1, "its file went with it");
    assert_eq!(
        reqwest::get(&local).await.expect("signed URL").status(),
        404
    );
}

async fn bad_uploads_leave_nothing(engine: Engine) {
    let spool = tempfile::tempdir().expect("spool dir");
    let spool_dir = spool.path().display().to_string();
    let app = spawn_with(
        engine,
        &[
            "--documents-max-bytes",
            "4096",
            "--documents-spool-dir",
            &spool_dir,
        ],
    )
    .await;
    let a = app.tenant().await;
    let (policy_id, claim_id) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");

    let text = upload(&a, &path, form(b"just words", "text/plain", "other", None)).await;
    assert_eq!(
        text.problem(415, Some("file"))["type"],
        "/problems/unsupported-media-type"
    );
    upload(&a, &path, form(PDF, "image/png", "other", None))
        .await
        .problem(422, Some("file"));
    let photo = format!("/v1/claims/{claim_id}/documents");
    upload(
        &a,
        &photo,
        form(PDF, "application/pdf", "claim_photo", None),
    )
    .await
    .problem(422, Some("type"));
    upload(&a, &path, form(PDF, "application/pdf", "contract", None))
        .await
        .problem(422, Some("type"));
    upload(
        &a,
        &path,
        form(PDF, "application/pdf", "other", Some("secret")),
    )
    .await
    .problem(422, Some("visibility"));
    upload(
        &a,
        &path,
        form(PDF, "application/pdf", "other", None).text("owner", "x"),
    )
    .await
    .problem(422, Some("owner"));
    let no_type = Form::new().part("file", Part::bytes(PDF.to_vec()).file_name("a.pdf"));
    upload(&a, &path, no_type).await.problem(422, Some("type"));
    upload(&a, &path, Form::new().text("type", "other"))
        .await
        .problem(422, Some("file"));
    let big = [PDF, &[0u8; 8192][..]].concat();
    upload(&a, &path, form(&big, "application/pdf", "other", None))
        .await
        .problem(413, None);
    let json = a.post(&path, serde_json::json!({"type": "other"})).await;
    assert_eq!(json.status, 415);
    let nowhere = format!("/v1/policies/{}/documents", uuid::Uuid::now_v7());
    upload(&a, &nowhere, form(PDF, "application/pdf", "other", None))
        .await
        .problem(404, None);

    // Octet-stream (what a client sends that does not know) is judged by the bytes alone.
    upload(
        &a,
        &path,
        form(PDF, "application/octet-stream", "other", None),
    )
    .await
    .ok(201);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(a.db.pool())
        .await
        .expect("count");
    assert_eq!(rows, 1, "only the good upload has a row");
    assert_eq!(files_under(&data_dir(&app).join("documents")).len(), 1);
    assert!(
        files_under(spool.path()).is_empty(),
        "no spool file outlives its request"
    );
}

/// A client that sends half a file and hangs up: no row, no object, no spool file.
async fn an_upload_cut_off_leaves_nothing(engine: Engine) {
    let spool = tempfile::tempdir().expect("spool dir");
    let spool_dir = spool.path().display().to_string();
    let app = spawn_with(engine, &["--documents-spool-dir", &spool_dir]).await;
    let a = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/policies/{policy_id}/documents HTTP/1.1\r\nHost: {host}\r\n\
         X-Consumer-ID: consumer-{slug}\r\nX-Authenticated-Userid: u\r\nX-Consumer-Custom-ID: {slug}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 10000000\r\n\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nother\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n",
        slug = a.slug
    );
    socket.write_all(head.as_bytes()).await.expect("head");
    socket.write_all(PDF).await.expect("some of the file");
    socket.write_all(&[0u8; 100_000]).await.expect("more of it");
    eventually("the upload to be spooled", || async {
        files_under(spool.path()).len() == 1
    })
    .await;
    drop(socket);
    eventually("the spool file to go with the connection", || async {
        files_under(spool.path()).is_empty()
    })
    .await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
        .fetch_one(a.db.pool())
        .await
        .expect("count");
    assert_eq!(rows, 0);
    assert!(files_under(&data_dir(&app).join("documents")).is_empty());
}

both_engines!(
    round_trip_on_local_disk,
    bad_uploads_leave_nothing,
    an_upload_cut_off_leaves_nothing
);

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_default()
}

/// 100 MB up and back down, generated and checked as streams on both sides: the process
/// (client and server both) grows by far less than the file.
#[tokio::test]
async fn a_100_mb_upload_streams_with_flat_memory() {
    const MB: usize = 1 << 20;
    let app = spawn_with(Engine::Sqlite, &["--documents-max-bytes", "200000000"]).await;
    let a = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let chunks = 100;
    let mut expected = Sha256::new();
    expected.update(PDF);
    for _ in 0..chunks {
        expected.update(vec![7u8; MB]);
    }
    let expected = hex::encode(expected.finalize());
    let body = futures::stream::iter(
        std::iter::once(bytes::Bytes::from_static(PDF))
            .chain((0..chunks).map(|_| bytes::Bytes::from(vec![7u8; MB])))
            .map(Ok::<_, std::io::Error>),
    );
    let size = (PDF.len() + chunks * MB) as u64;
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(body), size)
        .file_name("big.pdf")
        .mime_str("application/pdf")
        .expect("mime");
    let before = rss_kib();
    let doc = upload(
        &a,
        &format!("/v1/policies/{policy_id}/documents"),
        Form::new().text("type", "other").part("file", part),
    )
    .await;
    let up = rss_kib();
    let doc = doc.ok(201).clone();
    assert_eq!(doc["size_bytes"], size);
    assert_eq!(doc["sha256"], expected.as_str());
    let resp = a
        .request(
            Method::GET,
            &format!(
                "/v1/documents/{}/content",
                doc["id"].as_str().unwrap_or_default()
            ),
        )
        .send()
        .await
        .expect("download");
    let mut got = Sha256::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        got.update(chunk.expect("chunk"));
    }
    let down = rss_kib();
    assert_eq!(hex::encode(got.finalize()), expected);
    println!(
        "100 MB document: RSS {} MiB before, +{} MiB after the upload, +{} MiB after the download",
        before / 1024,
        up.saturating_sub(before) / 1024,
        down.saturating_sub(before) / 1024
    );
    assert!(
        down.saturating_sub(before) < 40 * 1024,
        "memory grew with the file"
    );
}

async fn docs_page(app: &TestApp) -> String {
    let page = app.get("/docs").await;
    page.body.as_str().unwrap_or_default().to_owned()
}

/// The seed's AssetService: in production with CDN_BASE_URL, public documents and the Swagger
/// UI's assets are the CDN's; otherwise they are the service's own, cached for good.
#[tokio::test]
async fn the_cdn_serves_public_documents_and_assets_in_production() {
    let cdn = "https://cdn.example.com";
    let app = spawn_with(
        Engine::Sqlite,
        &["--app-env", "production", "--cdn-base-url", cdn],
    )
    .await;
    let a = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let public = upload(
        &a,
        &path,
        form(PDF, "application/pdf", "other", Some("public")),
    )
    .await;
    let url = public.ok(201)["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{cdn}/tenant/")) && url.ends_with(".pdf"),
        "{url}"
    );
    let page = docs_page(&app).await;
    assert!(
        page.contains(&format!("src=\"{cdn}/docs/swagger-ui-bundle.js?v=")),
        "the script is the CDN's"
    );
    assert!(
        page.contains(&format!("href=\"{cdn}/docs/swagger-ui.css?v=")),
        "the stylesheet too"
    );

    let local = spawn_app(Engine::Sqlite).await;
    let page = docs_page(&local).await;
    assert!(
        page.contains("src=\"/docs/swagger-ui-bundle.js?v="),
        "outside production: our own"
    );
    let document = reqwest::get(format!("{}/openapi.json", local.address))
        .await
        .expect("document");
    let document = document.text().await.expect("text");
    assert!(
        page.len() < document.len() + 10_000,
        "the page carries the document, not the assets"
    );
    for (asset, kind) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
    ] {
        let resp = reqwest::get(format!("{}{asset}", local.address))
            .await
            .expect("asset");
        assert_eq!(resp.status(), 200);
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with(kind)
        );
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap_or_default()
                .contains("immutable")
        );
        assert!(resp.bytes().await.expect("bytes").len() > 10_000, "{asset}");
    }
}

/// A stored file changed behind the service's back: its download is cut short of its
/// Content-Length, so no client keeps the changed bytes as the document.
#[tokio::test]
async fn a_document_changed_in_storage_is_never_delivered_whole() {
    let app = spawn_app(Engine::Sqlite).await;
    let a = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&a).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let big = [PDF, &vec![1u8; 300_000][..]].concat();
    let id = upload(&a, &path, form(&big, "application/pdf", "other", None))
        .await
        .id();
    let files = files_under(&data_dir(&app).join("documents"));
    let mut changed = big.clone();
    changed[200_000] ^= 1;
    std::fs::write(&files[0], &changed).expect("change the stored file");
    // The connection is cut: before the head (a small file read at once) or mid-body.
    let sent = a
        .request(Method::GET, &format!("/v1/documents/{id}/content"))
        .send()
        .await;
    let received = match sent {
        Ok(resp) => resp.bytes().await,
        Err(e) => Err(e),
    };
    assert!(
        received.as_ref().map_or(true, |b| b.len() < big.len()),
        "the changed bytes were delivered whole"
    );
}
