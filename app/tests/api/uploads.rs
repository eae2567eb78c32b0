//! Uploads against hostile forms: a part whose header block never ends, enum fields padded to
//! pass, and a file name that lies about what the file is.

use std::time::Duration;

use reqwest::{
    Method,
    multipart::{Form, Part},
};

use crate::{
    both_engines,
    documents::{PDF, download, form, policy_and_claim, upload},
    support::measure::{HealthWatch, PeakRss, cpu, rss_kib},
    support::{Engine, spawn_app, spawn_with},
};

/// Issue 23 (4): a part whose header block never ends was held whole and searched again with
/// each chunk: a 256 MiB request took ~250 MiB and ~10 s of CPU. Now the body is refused (400)
/// once a header block passes 8 KiB, and the process barely notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_part_header_is_refused_with_flat_memory_and_cpu() {
    let app = spawn_app(Engine::Sqlite).await;
    let t = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&t).await;
    let server = app.replica_process(&[]).await;
    let on_server = server.client(&t);
    let health = HealthWatch::start(&server.address);
    let (rss, cpu_before) = (rss_kib(server.pid()), cpu(server.pid()));
    let peak = PeakRss::start(server.pid());
    const MIB: usize = 1 << 20;
    let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a".to_vec();
    let body = futures::stream::iter(
        std::iter::once(bytes::Bytes::from(head))
            .chain((0..256).map(|_| bytes::Bytes::from(vec![b'a'; MIB])))
            .map(Ok::<_, std::io::Error>),
    );
    let sent = on_server
        .request(Method::POST, &format!("/v1/policies/{policy_id}/documents"))
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    let (peak, used) = (peak.finish().await, cpu(server.pid()) - cpu_before);
    println!(
        "a 256 MiB part header: resident memory {} → {} MiB, {used:?} of CPU",
        rss / 1024,
        peak / 1024
    );
    // The server answers 400 before reading the rest; the client may see the answer or only
    // the connection closing under its upload.
    if let Ok(r) = sent {
        let r = crate::support::Resp::from(r).await;
        r.problem(400, None);
        let detail = r.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("header block"), "{detail}");
    }
    assert!(
        peak.saturating_sub(rss) < 16 * 1024,
        "memory grew with the header"
    );
    assert!(
        used < Duration::from_secs(2),
        "{used:?} of CPU for a refused header"
    );
    health.finish("an endless part header").await;
}

/// Issue 23 (12): `type` and `visibility` were read as their first 64 bytes and trimmed, so a
/// padded value passed as `other`. Now a value is exactly one of the enum's, else 422.
async fn enum_fields_are_exact(engine: Engine) {
    let app = spawn_with(engine, &[]).await;
    let t = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&t).await;
    let path = format!("/v1/policies/{policy_id}/documents");
    let padded = format!("other{}-and-anything", " ".repeat(70));
    for kind in [padded.as_str(), "other ", " other", "Other", "other\r\n"] {
        upload(&t, &path, form(PDF, "application/pdf", kind, None))
            .await
            .problem(422, Some("type"));
    }
    let long = "private".repeat(10);
    upload(
        &t,
        &path,
        form(PDF, "application/pdf", "other", Some(&long)),
    )
    .await
    .problem(422, Some("visibility"));
    upload(
        &t,
        &path,
        form(PDF, "application/pdf", "other", Some("public ")),
    )
    .await
    .problem(422, Some("visibility"));
    upload(
        &t,
        &path,
        form(PDF, "application/pdf", "other", Some("private")),
    )
    .await
    .ok(201);
}

/// Issue 23 (13): the download name was the client's, bidi controls and all, so a PDF named
/// `invoice<U+202E>fdp.hta` showed as `invoiceath.pdf` and saved as an `.hta`. Now the name is
/// kept without format characters and ends in the bytes' type.
async fn a_download_name_cannot_spoof_its_type(engine: Engine) {
    let app = spawn_with(engine, &[]).await;
    let t = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&t).await;
    let part = Part::bytes(PDF.to_vec())
        .file_name("invoice\u{202E}fdp.hta")
        .mime_str("application/pdf")
        .expect("mime");
    let form = Form::new().text("type", "other").part("file", part);
    let doc = upload(&t, &format!("/v1/policies/{policy_id}/documents"), form).await;
    let doc = doc.ok(201).clone();
    assert_eq!(doc["filename"], "invoicefdp.hta.pdf");
    let (status, headers, _) = download(&t, doc["id"].as_str().expect("id")).await;
    assert_eq!(status, 200);
    let disposition = headers["content-disposition"].to_str().expect("ASCII");
    assert_eq!(
        disposition,
        "attachment; filename=\"invoicefdp.hta.pdf\"; filename*=UTF-8''invoicefdp.hta.pdf"
    );
}

both_engines!(enum_fields_are_exact, a_download_name_cannot_spoof_its_type);
