-- The revocation feed: every access token that stops being valid before its expiry (revoked,
-- or deleted with its user or client), as the SHA-256 of the token — what a resource server
-- can compute from a token it holds, and nothing that rebuilds one — in commit order. The
-- triggers make every path that ends a token feed it, in the same transaction, so that no
-- revocation can commit without its entry. Rows go once the token would have expired.
CREATE TABLE token_revocations (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_sha256 BLOB NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX token_revocations_by_expiry ON token_revocations (expires_at);

CREATE TRIGGER access_token_revoked AFTER UPDATE OF revoked_at ON access_tokens
FOR EACH ROW WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
    AND NEW.expires_at > NEW.revoked_at
BEGIN
    INSERT INTO token_revocations (token_sha256, expires_at)
    VALUES (substr(NEW.token_hash, -32), NEW.expires_at);
END;

CREATE TRIGGER access_token_deleted AFTER DELETE ON access_tokens
FOR EACH ROW WHEN OLD.revoked_at IS NULL
    AND OLD.expires_at > CAST(strftime('%s', 'now') AS INTEGER)
BEGIN
    INSERT INTO token_revocations (token_sha256, expires_at)
    VALUES (substr(OLD.token_hash, -32), OLD.expires_at);
END;
