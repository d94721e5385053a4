-- The notification outbox: one row per configured webhook per event it wants (an
-- operation's history event, or an application's change), written in the transaction of
-- the change, so a crash never loses one. `payload` is the JSON body, built then, so a
-- delivery never needs its operation (which may be swept first). Rows of one notification
-- about one `subject` (an operation's id, or `application/<account>/<id>`) go out in `id`
-- order; `operation_id` is NULL for an application's change.
-- `attempts` counts attempts started (a claim increments it and fences the settlement);
-- `lease_until` keeps a claimed row from other nodes; `log` is the JSON of the latest
-- attempts' outcomes. Delivered and expired rows are swept after the operation retention.
CREATE TABLE notification_deliveries (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification TEXT    NOT NULL,
    account      TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    operation_id TEXT,
    application  TEXT,
    event        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    traceparent  TEXT,
    created_at   BIGINT  NOT NULL,   -- Unix milliseconds, as every time here
    state        TEXT    NOT NULL DEFAULT 'pending',
    attempts     BIGINT  NOT NULL DEFAULT 0,
    next_at      BIGINT  NOT NULL,
    lease_until  BIGINT  NOT NULL DEFAULT 0,
    done_at      BIGINT,
    log          TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX notification_deliveries_due
    ON notification_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX notification_deliveries_order
    ON notification_deliveries (notification, subject, id) WHERE state = 'pending';
CREATE INDEX notification_deliveries_settled
    ON notification_deliveries (done_at) WHERE state <> 'pending';
CREATE INDEX notification_deliveries_operation
    ON notification_deliveries (operation_id, id);
CREATE INDEX notification_deliveries_account
    ON notification_deliveries (account, id);
