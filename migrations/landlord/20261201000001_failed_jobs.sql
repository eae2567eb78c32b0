-- Jobs that used up their tries (or could not be read): kept for `queue failed list|retry|forget`.
-- Keyed by the job's id, so a worker that records a failure twice (it died between recording
-- and dropping the job from Redis) keeps one row.
CREATE TABLE failed_jobs (
    id        VARCHAR(36)  NOT NULL PRIMARY KEY,
    tenant    VARCHAR(64)  NOT NULL,
    job_type  VARCHAR(64)  NOT NULL,
    queue     VARCHAR(16)  NOT NULL,
    payload   TEXT         NOT NULL,
    error     TEXT         NOT NULL,
    attempts  INT          NOT NULL,
    failed_at BIGINT       NOT NULL
);
CREATE INDEX failed_jobs_failed_at ON failed_jobs (failed_at);
