-- RFC 7662 §4: a client may introspect the tokens issued to others only when an
-- administrator allowed it (a resource server).
ALTER TABLE clients ADD COLUMN introspect BOOLEAN NOT NULL DEFAULT FALSE;
