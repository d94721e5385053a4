-- ListExecuteOperations pages through an account's operations newest first; cancelling a
-- running operation marks it for the node running it.
ALTER TABLE operations ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX operations_by_account_newest
    ON operations (account, created_at DESC, seq DESC);
