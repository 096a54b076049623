-- Token exchange (RFC 8693): a token issued by exchange names the token it was first exchanged
-- from, and ends when that one ends — revoked, or deleted with its user or client — in the same
-- transaction, by these triggers, whatever path ended it (and the feed's triggers see both).
-- Who acts for the user (§4.1 `act`) is kept as JSON.
ALTER TABLE access_tokens ADD COLUMN subject_key BLOB;
ALTER TABLE access_tokens ADD COLUMN act TEXT;
CREATE INDEX access_tokens_by_subject ON access_tokens (subject_key) WHERE subject_key IS NOT NULL;

CREATE TRIGGER exchanged_token_follows_revocation AFTER UPDATE OF revoked_at ON access_tokens
FOR EACH ROW WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE access_tokens SET revoked_at = NEW.revoked_at
    WHERE subject_key = NEW.token_hash AND revoked_at IS NULL;
END;

CREATE TRIGGER exchanged_token_follows_deletion AFTER DELETE ON access_tokens
FOR EACH ROW
BEGIN
    DELETE FROM access_tokens WHERE subject_key = OLD.token_hash;
END;
