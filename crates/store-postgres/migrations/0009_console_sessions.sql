-- Web console sessions, by the SHA-256 of their token (the token itself is never stored).
-- Expired rows are deleted when a new session is created.
CREATE TABLE console_sessions (
    token_hash    TEXT    PRIMARY KEY,
    access_key_id TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
