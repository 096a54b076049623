-- OpenID Connect: the sign-in session a code was issued in (its public `sid`), and what a
-- refreshed ID token repeats of the original sign-in (`auth_time`, `sid`).
ALTER TABLE authorization_codes ADD COLUMN sid TEXT;
ALTER TABLE refresh_tokens ADD COLUMN auth_time INTEGER;
ALTER TABLE refresh_tokens ADD COLUMN sid TEXT;
