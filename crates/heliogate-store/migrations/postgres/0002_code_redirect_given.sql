-- RFC 6749 §4.1.3: a token request must repeat redirect_uri exactly when the authorization
-- request sent it; remember whether it did.
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_given BOOLEAN NOT NULL DEFAULT FALSE;
