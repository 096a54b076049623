-- A spent code records the family of the tokens it gave, so that a replay of it (RFC 6749
-- §4.1.2) finds them by family. The access tokens' index on the code they came from served
-- that one lookup only, and each exchange wrote a random page of it: it goes. Codes spent
-- before this change take their family from their tokens first.
ALTER TABLE authorization_codes ADD COLUMN family_id TEXT;
UPDATE authorization_codes SET family_id = (
    SELECT access_tokens.family_id FROM access_tokens
    WHERE access_tokens.code_hash = authorization_codes.code_hash
        AND access_tokens.family_id IS NOT NULL
    LIMIT 1
) WHERE redeemed_at IS NOT NULL;
DROP INDEX access_tokens_by_code;
-- Nothing reads the code a token came from any more.
ALTER TABLE access_tokens DROP COLUMN code_hash;
ALTER TABLE refresh_tokens DROP COLUMN code_hash;
