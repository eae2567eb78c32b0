-- The transactional outbox: an event is written in the transaction of the change that causes
-- it, so it exists if and only if the change committed. The relay publishes unsent rows in id
-- order (UUID v7: creation order) and stamps sent_at; sent rows are pruned after the retention.
CREATE TABLE outbox (
    id             VARCHAR(36) NOT NULL PRIMARY KEY,
    aggregate_type VARCHAR(16) NOT NULL,
    aggregate_id   VARCHAR(36) NOT NULL,
    event_type     VARCHAR(32) NOT NULL,
    payload        TEXT        NOT NULL,
    traceparent    VARCHAR(55) NULL,
    created_at     BIGINT      NOT NULL,
    sent_at        BIGINT      NULL
);
CREATE INDEX outbox_unsent ON outbox (sent_at, id);

-- One relay per tenant at a time, across replicas: whoever holds this row's lease.
CREATE TABLE outbox_relay (
    id       INTEGER     NOT NULL PRIMARY KEY,
    holder   VARCHAR(36) NULL,
    until_ms BIGINT      NOT NULL
);
INSERT INTO outbox_relay (id, holder, until_ms) VALUES (1, NULL, 0);
