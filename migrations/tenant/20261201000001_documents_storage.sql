-- Documents get their bytes in object storage. The table had no writer before this change, so
-- it is recreated rather than altered (SQLite cannot add a NOT NULL column without a default).
-- `status`: pending while its object is written, stored once it is, deleting while its object
-- is removed. Rows not `stored` are invisible to the API and swept (see app/src/documents).
DROP TABLE documents;
CREATE TABLE documents (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    policy_id     VARCHAR(36)  NOT NULL,
    claim_id      VARCHAR(36),
    kind          VARCHAR(32)  NOT NULL,
    visibility    VARCHAR(16)  NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    filename      VARCHAR(255) NOT NULL,
    content_type  VARCHAR(100) NOT NULL,
    size_bytes    BIGINT       NOT NULL,
    sha256        CHAR(64)     NOT NULL,
    storage_class VARCHAR(16)  NOT NULL,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL,
    FOREIGN KEY (policy_id) REFERENCES policies (id),
    FOREIGN KEY (claim_id) REFERENCES claims (id)
);
CREATE INDEX documents_policy ON documents (policy_id, id);
CREATE INDEX documents_claim ON documents (claim_id, id);
CREATE INDEX documents_status ON documents (status, updated_at);
