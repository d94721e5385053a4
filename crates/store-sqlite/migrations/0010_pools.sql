-- What each operation's attempts wait on (`bpops_store::Pool`): a node's concurrency limit
-- is per pool, and a claim takes each pool's runnable operations oldest first. The submit
-- sets it; an operation stored before this column existed is an emulated one, or a
-- lifecycle step in service `bpstudio` (a declared operation still queued then takes an
-- emulated slot for its next attempt).
ALTER TABLE operations ADD COLUMN pool TEXT NOT NULL DEFAULT 'emulated';
UPDATE operations SET pool = 'step'
WHERE service = 'bpstudio' AND status IN ('INIT', 'RUNNING');

-- A claim reads a pool's waiting operations oldest first, and its running ones whose lease
-- ended, without walking those running under a valid lease.
DROP INDEX operations_unfinished;
CREATE INDEX operations_waiting ON operations (pool, seq) WHERE status = 'INIT';
CREATE INDEX operations_leased ON operations (pool, lease_until) WHERE status = 'RUNNING';
