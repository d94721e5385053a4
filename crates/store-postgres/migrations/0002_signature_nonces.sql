-- Signature nonces spent within their window, shared by every node, so a request replayed
-- to another node is refused too.
CREATE TABLE signature_nonces (
    access_key_id TEXT   NOT NULL,
    nonce         TEXT   NOT NULL,
    expires_at    BIGINT NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
);
CREATE INDEX signature_nonces_expires_at ON signature_nonces (expires_at);
