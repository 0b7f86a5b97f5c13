-- finish: the conversation is over (route_end): ended by either side, or
-- abandoned by the resident. An assigned conversation enters after-contact
-- work: it stays counted against its advisor (state 'ended') for its
-- queue's wrap-up time on its channel (qc acw:<ch>), found at its deadline
-- by sweep (acw_free); with no wrap-up time it is freed at once. Either
-- way it stays the advisor's in PostgreSQL (wrap_up) until they wrap it
-- up, which releases it (release). One never assigned is released.
-- Ending an ended conversation, or one not in routing, does nothing.
-- ARGV: epoch, conv, why (closed|abandoned)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, why = ARGV[2], ARGV[3]
local c = hgetall(P .. 'c:' .. cid)
if not c.st or c.st == 'ended' then
	return {}
end
local now = now_ms()
local events = {}
if c.st == 'assigned' and c.adv and c.adv ~= '' then
	local acw = num(redis.call('HGET', P .. 'qc:' .. c.q, 'acw:' .. c.ch), 0)
	local dl = now + acw
	local v = bump_version(cid)
	redis.call('HSET', P .. 'c:' .. cid, 'st', 'ended', 'end', dl)
	events[1] = {'ended', cid, c.adv, inst_of(c.adv), v, c.q, c.ch, why,
	    tostring(dl)}
	if acw > 0 then
		redis.call('ZADD', P .. 'acw', dl, cid)
	else
		acw_free(cid, c, now, events)
	end
	return emit(events)
end
release_conv(cid, c, why, now, events)
return emit(events)
