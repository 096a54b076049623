-- A client imported with what breaks heliogate's rules left out waits, disabled, for an
-- administrator to correct it and enable it: no lookup for an OAuth flow finds it meanwhile.
ALTER TABLE clients ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
