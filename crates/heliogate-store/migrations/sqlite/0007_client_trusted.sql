-- An application the administrators vouch for: a public client's remembered consent is used
-- again only when it is marked so (RFC 8252 §8.6, RFC 6749 §10.2).
ALTER TABLE clients ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0 CHECK (trusted IN (0, 1));
