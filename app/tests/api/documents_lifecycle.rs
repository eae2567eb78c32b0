//! The seed's S3 lifecycle, against moto: the repository's bucket rules and public read policy
//! applied by `policy-service documents …` and read back, what S3 would refuse refused first,
//! the `document-type` tag every object carries for those rules, and the service's own move:
//! an ended policy's private documents archived (CopyObject onto themselves in GLACIER) by a job,
//! restorable as any archived document; and that move against s3s-fs, which checks signatures.

use aws_sdk_s3::types::StorageClass;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    documents::{PDF, PNG, download, form, policy_and_claim, upload},
    support::s3_server::{PRIVATE, PUBLIC, S3Server},
    support::{Engine, eventually, spawn_with},
};

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn out(o: &std::process::Output) -> (bool, String, String) {
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_repositorys_bucket_rules_apply_and_read_back() {
    let s3 = S3Server::moto().await;
    let flags = s3.flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &args).await;
    let cli = |rest: &[&str]| {
        let mut all = args.clone();
        all.extend_from_slice(rest);
        out(&app.cli(&all))
    };

    let (ok, shown, e) = cli(&["documents", "lifecycle", "show"]);
    assert!(
        ok && shown.contains("has no lifecycle configuration"),
        "{shown}{e}"
    );
    let file = repo("deploy/s3/lifecycle.json");
    let (ok, said, e) = cli(&["documents", "lifecycle", "apply", "--file", &file]);
    assert!(ok, "{said}{e}");
    assert!(
        said.contains(&format!("{PRIVATE}: 4 lifecycle rules applied")),
        "{said}"
    );
    let (ok, shown, e) = cli(&["documents", "lifecycle", "show"]);
    assert!(ok, "{e}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("file")).expect("JSON");
    assert_eq!(
        serde_json::from_str::<Value>(&shown).expect("JSON shown"),
        written
    );
    // Moto holds what S3 was sent, in S3's own shape.
    let held = s3
        .client()
        .get_bucket_lifecycle_configuration()
        .bucket(PRIVATE)
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(held.rules().len(), 4);

    // An expiration (rows that would lead to nothing) is refused before S3 is asked, by name,
    // and the bucket keeps its rules.
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("expire.json");
    let expire = json!({"Rules": [{"ID": "gone", "Status": "Enabled", "Filter": {"Prefix": "tenant/"},
        "Expiration": {"Days": 30}}]});
    std::fs::write(&bad, expire.to_string()).expect("write");
    let (ok, _, e) = cli(&[
        "documents",
        "lifecycle",
        "apply",
        "--file",
        &bad.to_string_lossy(),
    ]);
    assert!(!ok && e.contains("Expiration"), "{e}");
    let (_, shown, _) = cli(&["documents", "lifecycle", "show"]);
    assert_eq!(
        serde_json::from_str::<Value>(&shown).expect("JSON"),
        written
    );

    // The public bucket's read policy, with the bucket's name put in.
    let policy = repo("deploy/s3/public-read-policy.json");
    let (ok, said, e) = cli(&["documents", "public-policy", "apply", "--file", &policy]);
    assert!(ok && said.contains(PUBLIC), "{said}{e}");
    let (_, shown, _) = cli(&["documents", "public-policy", "show"]);
    let shown: Value = serde_json::from_str(&shown).expect("JSON");
    assert_eq!(
        shown["Statement"][0]["Resource"],
        json!(format!("arn:aws:s3:::{PUBLIC}/tenant/*/documents/*"))
    );
}

#[tokio::test]
async fn an_ended_policys_private_documents_are_archived_and_restorable() {
    let s3 = S3Server::moto().await;
    let flags = s3.flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &args).await;
    let t = app.tenant().await;
    let tenant = app
        .state
        .tenancy
        .resolve(&t.slug)
        .await
        .expect("landlord")
        .expect("tenant")
        .id
        .clone();
    let (policy_id, claim_id) = policy_and_claim(&t).await;
    let policy_docs = format!("/v1/policies/{policy_id}/documents");
    let schedule = upload(
        &t,
        &policy_docs,
        form(PDF, "application/pdf", "active_policy", None),
    )
    .await
    .ok(201)
    .clone();
    let claims_docs = format!("/v1/claims/{claim_id}/documents");
    let photo = upload(
        &t,
        &claims_docs,
        form(PNG, "image/png", "claim_photo", None),
    )
    .await
    .ok(201)
    .clone();
    let public = upload(
        &t,
        &policy_docs,
        form(PDF, "application/pdf", "other", Some("public")),
    )
    .await
    .ok(201)
    .clone();
    let key = |doc: &Value, ext: &str| {
        format!(
            "tenant/{tenant}/documents/{}.{ext}",
            doc["id"].as_str().expect("id")
        )
    };
    // Every object carries its type as a tag, for the bucket's lifecycle rules.
    let tags = s3
        .client()
        .get_object_tagging()
        .bucket(PRIVATE)
        .key(key(&photo, "png"))
        .send()
        .await
        .expect("tagging");
    let tags: Vec<(&str, &str)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key(), t.value()))
        .collect();
    assert_eq!(tags, [("document-type", "claim_photo")]);

    t.send(
        t.request(Method::POST, &format!("/v1/policies/{policy_id}/cancel"))
            .json(&json!({"reason": "sold the house"})),
    )
    .await
    .ok(200);
    let class = |bucket: &'static str, key: String| {
        let client = s3.client();
        async move {
            let head = client.head_object().bucket(bucket).key(key).send().await;
            head.ok()
                .map(|h| h.storage_class().cloned().unwrap_or(StorageClass::Standard))
        }
    };
    eventually(
        "the cancelled policy's private documents are in GLACIER",
        || async {
            class(PRIVATE, key(&schedule, "pdf")).await == Some(StorageClass::Glacier)
                && class(PRIVATE, key(&photo, "png")).await == Some(StorageClass::Glacier)
        },
    )
    .await;
    assert_eq!(
        class(PUBLIC, key(&public, "pdf")).await,
        Some(StorageClass::Standard),
        "a public document stays where its URL is"
    );
    let id = schedule["id"].as_str().expect("id");
    eventually("the row says GLACIER too", || async {
        t.get(&format!("/v1/documents/{id}")).await.body["storage_class"] == "GLACIER"
    })
    .await;
    // Kept whole (metadata, tags) and restorable: the first download starts the restore.
    let head = s3
        .client()
        .head_object()
        .bucket(PRIVATE)
        .key(key(&schedule, "pdf"))
        .send()
        .await
        .expect("head");
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(
        meta.get("document-type").map(String::as_str),
        Some("active_policy")
    );
    t.get(&format!("/v1/documents/{id}/content"))
        .await
        .conflict("document_archived");
    assert_eq!(download(&t, id).await.2, PDF);
}

/// s3s-fs, which checks every request's signature, takes the archive's CopyObject onto the same
/// key (it keeps no storage classes and has no lifecycle or tagging API, so that much is moto's
/// to show): the row records GLACIER and the bytes still come back.
#[tokio::test]
async fn the_archive_copy_is_a_signed_request_s3s_fs_takes() {
    let s3 = S3Server::s3s_fs().await;
    let flags = s3.flags();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = spawn_with(Engine::Sqlite, &args).await;
    let t = app.tenant().await;
    let (policy_id, _) = policy_and_claim(&t).await;
    let doc = upload(
        &t,
        &format!("/v1/policies/{policy_id}/documents"),
        form(PDF, "application/pdf", "active_policy", None),
    )
    .await
    .ok(201)
    .clone();
    let id = doc["id"].as_str().expect("id");
    t.send(
        t.request(Method::POST, &format!("/v1/policies/{policy_id}/cancel"))
            .json(&json!({"reason": "moved abroad"})),
    )
    .await
    .ok(200);
    eventually("the row says GLACIER", || async {
        t.get(&format!("/v1/documents/{id}")).await.body["storage_class"] == "GLACIER"
    })
    .await;
    assert_eq!(download(&t, id).await.2, PDF);
}
