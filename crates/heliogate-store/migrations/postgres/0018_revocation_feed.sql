-- The revocation feed: every access token that stops being valid before its expiry (revoked,
-- or deleted with its user or client), as the SHA-256 of the token — what a resource server
-- can compute from a token it holds, and nothing that rebuilds one. The triggers make every
-- path that ends a token feed it, in the same transaction, so that no revocation can commit
-- without its entry. Rows go once the token would have expired.
--
-- Commit order: a writer holds a shared advisory lock from its first entry until it commits,
-- and the feed's reader takes the same lock exclusively before it reads, so that every entry
-- numbered below one the reader sees has committed (writers never wait for each other).
CREATE TABLE token_revocations (
    seq          BIGSERIAL PRIMARY KEY,
    token_sha256 BYTEA NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX token_revocations_by_expiry ON token_revocations (expires_at);

CREATE FUNCTION feed_token_revocation() RETURNS trigger AS $$
DECLARE
    ended access_tokens%ROWTYPE;
BEGIN
    IF TG_OP = 'DELETE' THEN
        ended := OLD;
    ELSE
        ended := NEW;
    END IF;
    -- The key in heliogate-store's postgres.rs (FEED_LOCK).
    PERFORM pg_advisory_xact_lock_shared(114784819834728);
    INSERT INTO token_revocations (token_sha256, expires_at)
    VALUES (substring(ended.token_hash FROM length(ended.token_hash) - 31), ended.expires_at);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER access_token_revoked AFTER UPDATE OF revoked_at ON access_tokens
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
    AND NEW.expires_at > NEW.revoked_at)
EXECUTE FUNCTION feed_token_revocation();

CREATE TRIGGER access_token_deleted AFTER DELETE ON access_tokens
FOR EACH ROW WHEN (OLD.revoked_at IS NULL
    AND OLD.expires_at > CAST(extract(epoch FROM now()) AS BIGINT))
EXECUTE FUNCTION feed_token_revocation();
