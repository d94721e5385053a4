-- Operations, their idempotency tokens, the emulated inventory and the bootstrap key.
CREATE TABLE operations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- submission order
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
    attempt      INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
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
    deleted     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, service, id)
) WITHOUT ROWID;

CREATE TABLE bootstrap_key (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    account       TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    secret        TEXT NOT NULL
);
