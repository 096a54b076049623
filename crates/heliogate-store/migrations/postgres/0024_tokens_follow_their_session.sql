-- Tokens follow their sign-in session: a session ended while it was live (signed out, ended on
-- the sessions page or by an administrator, by RP-initiated logout, with its user) ends the
-- access tokens issued through it, and its refresh tokens but those granted with
-- `offline_access`, in the same transaction (and the feed's triggers name the access tokens).
-- A session that merely expired ends nothing: the purge deletes it after its end.
ALTER TABLE sessions ADD COLUMN sid TEXT;
ALTER TABLE access_tokens ADD COLUMN sid TEXT;
CREATE INDEX access_tokens_by_sid ON access_tokens (sid) WHERE sid IS NOT NULL;
CREATE INDEX refresh_tokens_by_sid ON refresh_tokens (sid) WHERE sid IS NOT NULL;

CREATE FUNCTION end_session_tokens() RETURNS trigger AS $$
DECLARE
    now_s BIGINT := CAST(extract(epoch FROM now()) AS BIGINT);
BEGIN
    UPDATE access_tokens SET revoked_at = now_s
    WHERE sid = OLD.sid AND revoked_at IS NULL;
    UPDATE refresh_tokens SET revoked_at = now_s
    WHERE sid = OLD.sid AND revoked_at IS NULL
        AND (' ' || scope || ' ') NOT LIKE '% offline_access %';
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER session_end_ends_its_tokens AFTER DELETE ON sessions
FOR EACH ROW WHEN (OLD.sid IS NOT NULL
    AND OLD.expires_at > CAST(extract(epoch FROM now()) AS BIGINT))
EXECUTE FUNCTION end_session_tokens();
