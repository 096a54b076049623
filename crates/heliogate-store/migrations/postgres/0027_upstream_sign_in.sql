-- Signing in through upstream identity providers. An upstream's client secret is sealed under
-- the key-encryption key when one is set (like signing keys); its default roles and role map
-- are JSON (`["reader"]`, `{"data-team": "writer"}`), read against the roles that stand.
CREATE TABLE upstreams (
    name          TEXT PRIMARY KEY,
    preset        TEXT NOT NULL DEFAULT 'oidc',
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret BYTEA,
    scopes        TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    provision     TEXT NOT NULL,
    default_roles TEXT NOT NULL DEFAULT '[]',
    role_claim    TEXT,
    role_map      TEXT NOT NULL DEFAULT '{}',
    trust_mfa     BOOLEAN NOT NULL DEFAULT FALSE,
    managed_by    TEXT,
    created_at    BIGINT NOT NULL
);

-- An upstream identity is linked by (issuer, subject) only, never by name or address. The
-- roles its role map gave at the last sign-in are kept, so that the next one takes away what
-- a lost group gave and nothing else.
CREATE TABLE upstream_identities (
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    upstream      TEXT NOT NULL REFERENCES upstreams (name) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT,
    mapped_roles  TEXT NOT NULL DEFAULT '[]',
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX upstream_identities_by_user ON upstream_identities (user_id);
CREATE INDEX upstream_identities_by_upstream ON upstream_identities (upstream);

-- How a sign-in waiting for its second factor began (`pwd`, or `fed …` through an upstream):
-- the session's `amr` carries it on.
ALTER TABLE mfa_pending ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
