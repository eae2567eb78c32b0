-- The policy search index on MariaDB: a table with a FULLTEXT index, one row per policy, kept
-- by the UpdateSearchIndex job. (SQLite's is an FTS5 table: migrations/tenant-sqlite.)
CREATE TABLE policy_search (
    policy_id    VARCHAR(36)  NOT NULL PRIMARY KEY,
    number       VARCHAR(32)  NOT NULL,
    insured_name VARCHAR(200) NOT NULL,
    email        VARCHAR(254) NOT NULL,
    notes        TEXT         NULL,
    status       VARCHAR(16)  NOT NULL,
    FULLTEXT INDEX policy_search_text (number, insured_name, email, notes, status)
) ENGINE = InnoDB;
