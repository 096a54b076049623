-- Second factors. An authenticator app's TOTP secret (sealed under the key-encryption key when
-- one is set), confirmed by a first code, with the last step used so that no code counts twice.
CREATE TABLE totp_factors (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BYTEA NOT NULL,
    confirmed  BOOLEAN NOT NULL DEFAULT FALSE,
    last_step  BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
-- Single-use recovery codes, only their SHA-256 kept.
CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
-- Half signed in: the password was right, the second factor is pending. Grants nothing; the
-- browser holds the id (only its hash is kept) for five minutes.
CREATE TABLE mfa_pending (
    id_hash    BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
-- A role whose users must sign in with a second factor.
ALTER TABLE roles ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT FALSE;
-- How a session was signed in (OpenID Connect `amr`, space-separated).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
