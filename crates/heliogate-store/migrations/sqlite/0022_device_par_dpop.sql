-- Device authorization (RFC 8628): the device code and the user code are kept only as hashes;
-- the approval (the user, the sign-in it rests on, the scope granted) is written on the row,
-- and its tokens are issued once, from the first poll after it.
CREATE TABLE device_authorizations (
    device_code_hash BLOB PRIMARY KEY,
    user_code_hash   BLOB NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    resources        TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    user_id          TEXT REFERENCES users (id) ON DELETE CASCADE,
    auth_time        INTEGER,
    sid              TEXT,
    amr              TEXT,
    poll_interval    INTEGER NOT NULL,
    last_poll        INTEGER,
    family_id        TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at);
CREATE INDEX device_authorizations_by_client ON device_authorizations (client_id, expires_at);

-- Pushed authorization requests (RFC 9126): the parameters a client sent, under the hash of
-- the request_uri it was given; used once, when a code answers it. A request that asks for a
-- fresh sign-in (prompt=login) keeps the session it found, so that the sign-in that follows is
-- told from it.
CREATE TABLE pushed_requests (
    request_hash BLOB PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    params       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    stale_sid    TEXT
) STRICT;
CREATE INDEX pushed_requests_by_expiry ON pushed_requests (expires_at);

-- DPoP proofs seen (RFC 9449 §11.1), by the hash of their key and jti, until they are too old
-- to be accepted anyway: shared by every node, so that a proof is used once anywhere.
CREATE TABLE dpop_proofs (
    proof_hash BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX dpop_proofs_by_expiry ON dpop_proofs (expires_at);

ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0 CHECK (require_par IN (0, 1));
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0 CHECK (require_dpop IN (0, 1));
-- The thumbprint of the key a token is bound to (RFC 9449 §6), if any.
ALTER TABLE access_tokens ADD COLUMN jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN jkt TEXT;
