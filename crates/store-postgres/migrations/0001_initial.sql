-- Operations, their idempotency tokens, the emulated inventory and the bootstrap key.
-- Same meaning as the SQLite backend's 0001_initial.sql; times are Unix milliseconds.
CREATE TABLE operations (
    seq          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- submission order
    id           TEXT    NOT NULL UNIQUE,
    account      TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    operation    TEXT    NOT NULL,
    application  TEXT,
    resource     TEXT,                                -- "service/id" within the account
    attributes   TEXT    NOT NULL,
    client_token TEXT,
    fingerprint  TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    message      TEXT    NOT NULL DEFAULT '',
    arguments    TEXT    NOT NULL DEFAULT '{}',
    attempt      BIGINT  NOT NULL DEFAULT 0,
    lease_until  BIGINT,
    created_at   BIGINT  NOT NULL,
    finished_at  BIGINT
);

CREATE UNIQUE INDEX operations_client_token
    ON operations (account, client_token) WHERE client_token IS NOT NULL;
CREATE INDEX operations_unfinished
    ON operations (seq) WHERE status IN ('INIT', 'RUNNING');
CREATE INDEX operations_unfinished_by_resource
    ON operations (account, resource, seq) WHERE status IN ('INIT', 'RUNNING');
CREATE INDEX operations_finished_at
    ON operations (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE resources (
    account     TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    application TEXT    NOT NULL,
    properties  TEXT    NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (account, service, id)
);

CREATE TABLE bootstrap_key (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    account       TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    secret        TEXT NOT NULL
);
