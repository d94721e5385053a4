-- The audit trail: one row per API request, appended in batches, never updated. Reads are
-- one account's, newest first. Rows leave only through the retention sweep, oldest first by
-- `seq`: records are appended in time order, give or take a batch, so no index on time is
-- kept up.
CREATE TABLE audit_events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at   BIGINT  NOT NULL,
    request_id    TEXT    NOT NULL,
    account       TEXT,
    user_name     TEXT,
    access_key_id TEXT,
    verified      BOOLEAN NOT NULL,
    source_ip     TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    code          TEXT    NOT NULL,
    http_status   INTEGER NOT NULL,
    application   TEXT,
    operation_id  TEXT,
    resource      TEXT,
    parameters    TEXT    NOT NULL
);

CREATE INDEX audit_events_by_account ON audit_events (account, occurred_at, seq)
    WHERE account IS NOT NULL;

-- Nothing changes a record once written, whatever the code above the store does.
CREATE FUNCTION audit_events_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are never changed';
END;
$$;
CREATE TRIGGER audit_events_are_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_update();
