-- Resource indicators (RFC 8707): the resource servers a client may ask tokens for, separated
-- by spaces; those an authorization request named, bound to its code; and an access token's
-- audience, which introspection reports. NULL: none named.
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN resources TEXT;
ALTER TABLE access_tokens ADD COLUMN audience TEXT;
