-- reject: the advisor refuses the conversation offered to them; it goes
-- to the next eligible advisor and never back to this one.
-- ARGV: epoch, conv, advisor
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, aid = ARGV[2], ARGV[3]
local c, refused = offered_to(cid, aid)
if not c then
	return refused
end
local events = {}
end_offer(cid, c, aid, 'rejected', now_ms(), events)
return emit(events)
