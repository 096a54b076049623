-- Every token issuance writes an audit row. The index on `at` served no query (the log is read
-- newest first, by id).
DROP INDEX audit_log_by_time;
