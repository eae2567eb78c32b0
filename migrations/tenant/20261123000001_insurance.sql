-- One tenant's insurance data. Runs unchanged on MariaDB and SQLite: VARCHAR ids (UUID v7, so
-- they sort by creation time and serve as pagination keys), money in minor units (BIGINT),
-- instants as epoch milliseconds (BIGINT), calendar dates as 'YYYY-MM-DD' text. Foreign keys
-- are table constraints because MariaDB ignores column-level REFERENCES.
CREATE TABLE insureds (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    full_name     VARCHAR(200) NOT NULL,
    email         VARCHAR(254) NOT NULL,
    date_of_birth VARCHAR(10)  NULL,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL
);
CREATE UNIQUE INDEX insureds_email ON insureds (email);

CREATE TABLE quotes (
    id             VARCHAR(36) NOT NULL PRIMARY KEY,
    insured_id     VARCHAR(36) NOT NULL,
    product        VARCHAR(32) NOT NULL,
    currency       VARCHAR(3)  NOT NULL,
    premium_minor  BIGINT      NOT NULL,
    status         VARCHAR(16) NOT NULL,
    valid_until    VARCHAR(10) NOT NULL,
    effective_date VARCHAR(10) NOT NULL,
    expiry_date    VARCHAR(10) NOT NULL,
    created_at     BIGINT      NOT NULL,
    updated_at     BIGINT      NOT NULL,
    FOREIGN KEY (insured_id) REFERENCES insureds (id)
);
CREATE INDEX quotes_insured ON quotes (insured_id);

CREATE TABLE coverages (
    id               VARCHAR(36) NOT NULL PRIMARY KEY,
    quote_id         VARCHAR(36) NOT NULL,
    position         BIGINT      NOT NULL,
    code             VARCHAR(40) NOT NULL,
    limit_minor      BIGINT      NOT NULL,
    deductible_minor BIGINT      NOT NULL,
    premium_minor    BIGINT      NOT NULL,
    FOREIGN KEY (quote_id) REFERENCES quotes (id)
);
CREATE INDEX coverages_quote ON coverages (quote_id, position);

CREATE TABLE policies (
    id                  VARCHAR(36)   NOT NULL PRIMARY KEY,
    number              VARCHAR(20)   NOT NULL,
    quote_id            VARCHAR(36)   NOT NULL,
    insured_id          VARCHAR(36)   NOT NULL,
    status              VARCHAR(16)   NOT NULL,
    currency            VARCHAR(3)    NOT NULL,
    premium_minor       BIGINT        NOT NULL,
    effective_date      VARCHAR(10)   NOT NULL,
    expiry_date         VARCHAR(10)   NOT NULL,
    notes               VARCHAR(2000) NULL,
    cancellation_reason VARCHAR(500)  NULL,
    bound_at            BIGINT        NOT NULL,
    activated_at        BIGINT        NULL,
    ended_at            BIGINT        NULL,
    created_at          BIGINT        NOT NULL,
    updated_at          BIGINT        NOT NULL,
    FOREIGN KEY (quote_id) REFERENCES quotes (id),
    FOREIGN KEY (insured_id) REFERENCES insureds (id)
);
CREATE UNIQUE INDEX policies_number ON policies (number);
CREATE UNIQUE INDEX policies_quote ON policies (quote_id);
CREATE INDEX policies_status ON policies (status, id);
CREATE INDEX policies_insured ON policies (insured_id);

CREATE TABLE payments (
    id           VARCHAR(36)  NOT NULL PRIMARY KEY,
    policy_id    VARCHAR(36)  NOT NULL,
    amount_minor BIGINT       NOT NULL,
    currency     VARCHAR(3)   NOT NULL,
    method       VARCHAR(20)  NOT NULL,
    reference    VARCHAR(100) NULL,
    received_at  BIGINT       NOT NULL,
    FOREIGN KEY (policy_id) REFERENCES policies (id)
);
CREATE INDEX payments_policy ON payments (policy_id, received_at);

CREATE TABLE claims (
    id                   VARCHAR(36)   NOT NULL PRIMARY KEY,
    policy_id            VARCHAR(36)   NOT NULL,
    status               VARCHAR(16)   NOT NULL,
    incident_date        VARCHAR(10)   NOT NULL,
    description          VARCHAR(4000) NOT NULL,
    amount_claimed_minor BIGINT        NOT NULL,
    opened_at            BIGINT        NOT NULL,
    updated_at           BIGINT        NOT NULL,
    FOREIGN KEY (policy_id) REFERENCES policies (id)
);
CREATE INDEX claims_policy ON claims (policy_id);

-- Document metadata; the bytes go to object storage in a later change.
CREATE TABLE documents (
    id           VARCHAR(36)  NOT NULL PRIMARY KEY,
    policy_id    VARCHAR(36)  NOT NULL,
    kind         VARCHAR(32)  NOT NULL,
    filename     VARCHAR(255) NOT NULL,
    content_type VARCHAR(100) NOT NULL,
    size_bytes   BIGINT       NOT NULL,
    created_at   BIGINT       NOT NULL,
    FOREIGN KEY (policy_id) REFERENCES policies (id)
);
CREATE INDEX documents_policy ON documents (policy_id);

-- Bind's Idempotency-Key: the key, a hash of what was asked, and the policy it produced.
CREATE TABLE idempotency_keys (
    idem_key     VARCHAR(255) NOT NULL PRIMARY KEY,
    request_hash VARCHAR(64)  NOT NULL,
    policy_id    VARCHAR(36)  NOT NULL,
    created_at   BIGINT       NOT NULL
);
