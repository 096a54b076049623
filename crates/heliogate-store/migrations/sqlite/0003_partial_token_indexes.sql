-- Every index is written on every token issuance. A client's own token (client credentials)
-- has no user, family or code, so those indexes only need the rows that have one.
DROP INDEX access_tokens_by_user;
DROP INDEX access_tokens_by_family;
DROP INDEX access_tokens_by_code;
CREATE INDEX access_tokens_by_user ON access_tokens (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX access_tokens_by_family ON access_tokens (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX access_tokens_by_code ON access_tokens (code_hash) WHERE code_hash IS NOT NULL;
