-- When a spent code is presented again: the redemption that issued its tokens checks this
-- after they are durable, so that a replay that came before them still revokes them.
ALTER TABLE authorization_codes ADD COLUMN replayed_at BIGINT;
