-- Switchboard schema 0011: routing that never strands a resident, and
-- after-contact work (issue 13, items 1 and 11).
--
-- refusal_cooldown_s: an advisor who rejected a conversation, or let its
-- offer time out, is not offered it again for this long, unless no other
-- eligible advisor exists (router/scripts/common.lua, pick_advisor).
-- wrap_up_s: after a conversation ends, its advisor's capacity stays held
-- this long (after-contact work), unless they wrap it up earlier; 0: not
-- held. Both are carried to Redis with the other queue settings.
ALTER TABLE queue_channels
	ADD COLUMN refusal_cooldown_s integer NOT NULL DEFAULT 60
		CHECK (refusal_cooldown_s BETWEEN 0 AND 3600),
	ADD COLUMN wrap_up_s integer NOT NULL DEFAULT 60
		CHECK (wrap_up_s BETWEEN 0 AND 3600);
