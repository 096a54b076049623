-- A password someone else chose (the first administrator's, printed at the first start) must
-- be replaced at the first sign-in before anything else.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
