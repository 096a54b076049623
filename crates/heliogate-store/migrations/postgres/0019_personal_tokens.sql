-- Personal access tokens: access tokens that users make for their own scripts, named, and
-- marked when last used. They are issued to the built-in client below, which the store never
-- shows nor hands out: no OAuth flow can use it (no secret, no grant type, no redirect URI).
ALTER TABLE access_tokens ADD COLUMN name TEXT;
ALTER TABLE access_tokens ADD COLUMN last_used_at BIGINT;
INSERT INTO clients (client_id, secret_hash, name, owner_id, public, redirect_uris, grant_types,
    scopes, created_at, updated_at)
VALUES ('heliogate-personal-tokens', NULL, 'Personal access tokens', NULL, FALSE, '', '', '',
    EXTRACT(EPOCH FROM now())::BIGINT, EXTRACT(EPOCH FROM now())::BIGINT)
ON CONFLICT (client_id) DO NOTHING;
