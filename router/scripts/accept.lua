-- accept: the advisor takes the conversation offered to them.
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
return emit({assign(cid, c, aid, now_ms())})
