-- Passkeys and security keys (WebAuthn): the credential's public key and sign counter, as
-- webauthn-rs keeps them (JSON), under the credential id (base64url).
CREATE TABLE passkeys (
    credential_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys (user_id);
-- A WebAuthn ceremony under way: the challenge's state, kept server-side, used once.
CREATE TABLE webauthn_challenges (
    id_hash    BLOB PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
