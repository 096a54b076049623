-- heliogate's schema on SQLite. Times are Unix seconds; secrets are stored only as SHA-256.
-- Lists (redirect URIs, grant types, scopes) are space-separated: none of their items may
-- contain a space.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE roles (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE role_scopes (
    role  TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    PRIMARY KEY (role, scope)
) STRICT;

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles (name),
    PRIMARY KEY (user_id, role)
) STRICT;
CREATE INDEX user_roles_by_role ON user_roles (role);

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   BLOB,
    name          TEXT NOT NULL,
    owner_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
    public        INTEGER NOT NULL CHECK (public IN (0, 1)),
    redirect_uris TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- RFC 6749 §4.1.2: single use, short-lived, bound to client, redirect URI and PKCE challenge.
CREATE TABLE authorization_codes (
    code_hash      BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    redeemed_at    INTEGER
) STRICT;
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

-- Refresh tokens rotate on every use; all generations of one grant share a family, so that a
-- replayed, already rotated token can revoke them all (RFC 9700 §4.14.2).
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    code_hash  BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

-- user_id is NULL for a client's own token (client_credentials).
CREATE TABLE access_tokens (
    token_hash BLOB PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    family_id  TEXT,
    code_hash  BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX access_tokens_by_user ON access_tokens (user_id);
CREATE INDEX access_tokens_by_client ON access_tokens (client_id);
CREATE INDEX access_tokens_by_family ON access_tokens (family_id);
CREATE INDEX access_tokens_by_code ON access_tokens (code_hash);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE TABLE sessions (
    id_hash      BLOB PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    client_addr  TEXT,
    user_agent   TEXT
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed sign-ins per key ('user:NAME' or 'addr:IP'), shared by every node.
CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT,
    subject     TEXT,
    client_addr TEXT,
    detail      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_by_time ON audit_log (at);

-- Facts about this installation, such as whether the bootstrap administrator was made.
CREATE TABLE instance (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- The roles of the original design, with `admin` added for the administration API.
INSERT INTO roles (name, created_at) VALUES
    ('reader', unixepoch()), ('writer', unixepoch()),
    ('moderator', unixepoch()), ('administrator', unixepoch());
INSERT INTO role_scopes (role, scope) VALUES
    ('reader', 'read'), ('writer', 'write'),
    ('moderator', 'read'), ('moderator', 'write'),
    ('administrator', 'read'), ('administrator', 'write'),
    ('administrator', 'execute'), ('administrator', 'admin');
