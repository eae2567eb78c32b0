-- The notes example's one table, the same on SQLite and MariaDB.
CREATE TABLE notes (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    body TEXT NOT NULL,
    -- Counted by the CountWords job after the note is written; NULL until then.
    words BIGINT NULL,
    -- The attachment's object key and content type, once one is stored.
    attachment VARCHAR(255) NULL,
    attachment_type VARCHAR(100) NULL,
    created_at BIGINT NOT NULL
);
