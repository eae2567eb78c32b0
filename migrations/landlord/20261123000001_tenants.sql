-- The landlord: one row per tenant. Runs unchanged on MariaDB and SQLite.
CREATE TABLE tenants (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    slug          VARCHAR(64)  NOT NULL,
    name          VARCHAR(200) NOT NULL,
    database_name VARCHAR(64)  NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL
);
CREATE UNIQUE INDEX tenants_slug ON tenants (slug);
CREATE UNIQUE INDEX tenants_database_name ON tenants (database_name);
