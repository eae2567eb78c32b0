//! The notes domain: its record, its SQL, its cache key, its event, its job and its channel,
//! each declared here and registered with the platform in `main.rs`.

use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use policy_service::{
    platform::broadcast::channels::Channels,
    platform::cache::keys::Tag,
    platform::db::{self, Db, Sql, now_ms},
    platform::error::{Error, Result},
    platform::outbox::{self, Event},
    platform::queue::JobKind,
    platform::tenancy::Schema,
    record_key,
};
use sqlx::migrate::Migrator;

static NOTES: Migrator = sqlx::migrate!("examples/notes/migrations");
/// The table is written the same way on both engines: nothing engine-specific.
static NONE: Migrator = Migrator::DEFAULT;

/// The notes tables of a tenant's database.
pub fn schema() -> Schema {
    Schema {
        shared: &NOTES,
        sqlite: &NONE,
        mariadb: &NONE,
    }
}

/// A note, as the API shows it.
#[derive(Debug, Clone, Object, sqlx::FromRow)]
#[oai(skip_serializing_if_is_none)]
pub struct Note {
    /// UUID v7.
    pub id: String,
    pub title: String,
    pub body: String,
    /// How many words the body has, once the CountWords job has counted them.
    pub words: Option<i64>,
    /// The attachment's content type, when one is stored.
    pub attachment_type: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

pub const NOTE_TAG: Tag = Tag::new("tag:notes");

record_key!(
    /// `GET /v1/notes/{id}`.
    NoteKey, Note, NOTE_TAG, "note"
);

/// Writes the note and its `NoteCreated` event in one transaction.
pub async fn create(db: &Db, title: &str, body: &str) -> Result<Note> {
    let note = Note {
        id: uuid::Uuid::now_v7().to_string(),
        title: title.to_owned(),
        body: body.to_owned(),
        words: None,
        attachment_type: None,
        created_at: now_ms(),
    };
    let mut tx = db.begin().await?;
    insert(&mut tx.sql(), &note).await?;
    let data = json!({ "note_id": note.id, "title": note.title });
    let event = Event::new("note", &note.id, "NoteCreated", data, note.created_at);
    outbox::emit(&mut tx.sql(), event).await?;
    tx.commit().await?;
    Ok(note)
}

async fn insert(sql: &mut Sql<'_>, note: &Note) -> Result<()> {
    sql.execute(
        db::query("INSERT INTO notes (id, title, body, created_at) VALUES (?, ?, ?, ?)")
            .bind(note.id.clone())
            .bind(note.title.clone())
            .bind(note.body.clone())
            .bind(note.created_at),
    )
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Note>> {
    let q = "SELECT id, title, body, words, attachment_type, created_at FROM notes WHERE id = ?";
    db.conn()
        .await?
        .sql()
        .optional(db::query_as(q).bind(id.to_owned()))
        .await
}

/// The newest `limit` notes.
pub async fn list(db: &Db, limit: u32) -> Result<Vec<Note>> {
    let q = "SELECT id, title, body, words, attachment_type, created_at FROM notes \
             ORDER BY id DESC LIMIT ?";
    db.conn()
        .await?
        .sql()
        .all(db::query_as(q).bind(i64::from(limit)))
        .await
}

/// Records where the note's attachment is; 404 if the note is gone.
pub async fn attach(db: &Db, id: &str, key: &str, content_type: &str) -> Result<()> {
    let changed = db
        .conn()
        .await?
        .sql()
        .execute(
            db::query("UPDATE notes SET attachment = ?, attachment_type = ? WHERE id = ?")
                .bind(key.to_owned())
                .bind(content_type.to_owned())
                .bind(id.to_owned()),
        )
        .await?;
    if changed == 0 {
        return Err(Error::NotFound("note"));
    }
    Ok(())
}

/// The attachment's object key, if the note has one.
pub async fn attachment(db: &Db, id: &str) -> Result<Option<String>> {
    let q = db::query_as::<(Option<String>,)>("SELECT attachment FROM notes WHERE id = ?")
        .bind(id.to_owned());
    let found = db.conn().await?.sql().optional(q).await?;
    found.ok_or(Error::NotFound("note")).map(|(key,)| key)
}

/// Count a note's words (a rewrite from the row: running it twice is harmless).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountWords {
    pub note_id: String,
}

impl JobKind for CountWords {
    const NAME: &'static str = "CountWords";

    fn unique_key(&self) -> String {
        format!("words:{}", self.note_id)
    }
}

/// Counts and stores the note's words; whether the note was there.
pub async fn count_words(db: &Db, id: &str) -> Result<bool> {
    let Some(note) = get(db, id).await? else {
        return Ok(false);
    };
    let words = i64::try_from(note.body.split_whitespace().count()).unwrap_or(i64::MAX);
    db.conn()
        .await?
        .sql()
        .execute(
            db::query("UPDATE notes SET words = ? WHERE id = ?")
                .bind(words)
                .bind(id.to_owned()),
        )
        .await?;
    Ok(true)
}

/// One private channel per tenant, `private-notes.{tenant slug}`: every NoteCreated of it.
pub struct NoteChannels;

impl NoteChannels {
    pub fn of_tenant(slug: &str) -> String {
        format!("private-notes.{slug}")
    }
}

impl Channels for NoteChannels {
    fn canonical(&self, name: &str) -> Option<String> {
        let slug = name.strip_prefix("private-notes.")?;
        let ok = !slug.is_empty()
            && slug.len() <= 64
            && slug
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| name.to_owned())
    }

    fn of(&self, event: &Event, tenant: &str) -> Option<(Vec<String>, Value)> {
        (event.event_type == "NoteCreated")
            .then(|| (vec![NoteChannels::of_tenant(tenant)], event.payload.clone()))
    }

    fn which(&self) -> &'static str {
        "only private-notes.*"
    }
}
