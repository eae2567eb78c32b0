-- The policy search index on SQLite: an FTS5 table, one row per policy, kept by the
-- UpdateSearchIndex job. (MariaDB's is a FULLTEXT index: migrations/tenant-mariadb.)
CREATE VIRTUAL TABLE policy_search USING fts5(
    policy_id UNINDEXED,
    number,
    insured_name,
    email,
    notes,
    status,
    tokenize = 'unicode61 remove_diacritics 2'
);
