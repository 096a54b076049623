-- The settings file (`heliogate apply`) that declares a role or a client, if one does: the
-- console marks them, and warns that a change made there is undone at the next apply.
ALTER TABLE roles ADD COLUMN managed_by TEXT;
ALTER TABLE clients ADD COLUMN managed_by TEXT;
