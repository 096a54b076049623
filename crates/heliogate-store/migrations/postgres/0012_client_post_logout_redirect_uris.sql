-- OpenID Connect RP-Initiated Logout: where a client may send the browser after signing the
-- user out, matched exactly, space-separated like redirect_uris.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
