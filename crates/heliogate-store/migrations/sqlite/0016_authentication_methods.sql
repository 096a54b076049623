-- How the user signed in for a grant (OpenID Connect `amr`, space-separated), kept with its
-- code and refresh tokens so that every ID token of the grant says it.
ALTER TABLE authorization_codes ADD COLUMN amr TEXT;
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT;
