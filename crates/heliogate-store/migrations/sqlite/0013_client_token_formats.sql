-- The algorithm a client's ID tokens (and JWT access tokens) are signed with, RS256 unless it
-- was registered otherwise, and whether its access tokens are opaque or JWTs (RFC 9068).
ALTER TABLE clients ADD COLUMN signing_alg TEXT NOT NULL DEFAULT 'RS256';
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque';
