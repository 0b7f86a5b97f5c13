-- release: a conversation leaves routing (closed, wrapped up, abandoned
-- by the customer); the advisor's capacity frees and waiting work is
-- offered at once.
-- ARGV: epoch, conv, why, by (advisor who must hold it; "" for anyone)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, why = ARGV[2], ARGV[3]
local c = hgetall(P .. 'c:' .. cid)
if not c.st then
	return {}
end
if ARGV[4] and ARGV[4] ~= '' and c.adv ~= ARGV[4] then
	return redis.error_reply('NOTYOURS conversation ' .. cid ..
	    ' is not assigned to ' .. ARGV[4])
end
local events = {}
release_conv(cid, c, why, now_ms(), events)
return emit(events)
