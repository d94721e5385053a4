-- Who submitted each operation (RAM user, AccessKeyId, source IP, RequestId) and the trace
-- of their request, kept in the operation's row, written by the submit that stores it: the
-- JSON of `bpops_store::Requester`, as the history's `submitted` event holds it. NULL for an
-- operation not submitted through the API, and for those stored before this column existed.
ALTER TABLE operations ADD COLUMN submitted_by TEXT;
