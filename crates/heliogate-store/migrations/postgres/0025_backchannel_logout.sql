-- OpenID Connect Back-Channel Logout 1.0. A client may name the URI it takes logout tokens at.
-- The relying parties that received an ID token in a sign-in session are recorded (an access
-- token with `openid` issued through a session that stands); when that session ends while it
-- was live (see 0024), a delivery is queued for each of them that has a back-channel logout URI,
-- in the same transaction, whichever way it ended. Any node sends what is due: a lease keeps two
-- from sending the same one at once.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
CREATE INDEX sessions_by_sid ON sessions (sid) WHERE sid IS NOT NULL;

CREATE TABLE session_clients (
    sid       TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_by_client ON session_clients (client_id);

CREATE FUNCTION id_token_joins_its_session() RETURNS trigger AS $$
BEGIN
    INSERT INTO session_clients (sid, client_id)
    SELECT NEW.sid, NEW.client_id WHERE EXISTS (SELECT 1 FROM sessions WHERE sid = NEW.sid)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER id_token_joins_its_session AFTER INSERT ON access_tokens
FOR EACH ROW WHEN (NEW.sid IS NOT NULL AND (' ' || NEW.scope || ' ') LIKE '% openid %')
EXECUTE FUNCTION id_token_joins_its_session();

CREATE TABLE logout_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    sid             TEXT NOT NULL,
    subject         TEXT NOT NULL,
    jti             TEXT NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- 0: at once.
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);
CREATE INDEX logout_deliveries_by_client ON logout_deliveries (client_id);

CREATE FUNCTION queue_session_logouts() RETURNS trigger AS $$
DECLARE
    now_s BIGINT := CAST(extract(epoch FROM now()) AS BIGINT);
BEGIN
    IF OLD.expires_at > now_s THEN
        INSERT INTO logout_deliveries (client_id, sid, subject, jti, created_at)
        SELECT sc.client_id, OLD.sid, OLD.user_id, replace(gen_random_uuid()::text, '-', ''),
            now_s
        FROM session_clients sc JOIN clients c ON c.client_id = sc.client_id
        WHERE sc.sid = OLD.sid AND c.backchannel_logout_uri IS NOT NULL;
    END IF;
    DELETE FROM session_clients WHERE sid = OLD.sid;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER session_end_queues_logouts AFTER DELETE ON sessions
FOR EACH ROW WHEN (OLD.sid IS NOT NULL)
EXECUTE FUNCTION queue_session_logouts();
