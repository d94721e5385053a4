-- Each operation's history, written in the transaction of the change each event records and
-- deleted with its operation. Keyed by the operation's `seq`, not its random id: a history's
-- events sit together, and a submit's go at the end of the table rather than on a page of
-- their own. `seq` numbers an operation's events from 1; `detail` is the event as JSON (what
-- is read back); `kind` repeats its kind for a person reading the table.
CREATE TABLE operation_events (
    operation_seq BIGINT  NOT NULL,   -- operations.seq
    seq          INTEGER NOT NULL,
    at           BIGINT  NOT NULL,   -- Unix milliseconds
    kind         TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    PRIMARY KEY (operation_seq, seq)
);
