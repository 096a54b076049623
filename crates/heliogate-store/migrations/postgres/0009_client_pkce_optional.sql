-- PKCE is required of every client (RFC 9700 §2.1.1); an administrator may let a confidential
-- client that cannot send it omit it. Existing clients are held to the rule too.
ALTER TABLE clients ADD COLUMN pkce_optional BOOLEAN NOT NULL DEFAULT FALSE;
