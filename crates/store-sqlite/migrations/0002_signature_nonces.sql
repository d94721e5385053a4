-- Nothing to do: one process owns an SQLite database, and its request path keeps the
-- signature nonces it has seen in memory. This version exists so that a schema version
-- means the same on both backends.
SELECT 1;
