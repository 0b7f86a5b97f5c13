-- requeue: an advisor's desk has been gone longer than the grace period.
-- Their conversations on the live channels given go back to the front of
-- their queues with their original wait time; the rest stay theirs. The
-- advisor becomes offline.
-- ARGV: epoch, advisor, live channels "chat,voice"
local err = epoch_error(ARGV[1])
if err then
	return err
end
local aid = ARGV[2]
local live = ',' .. (ARGV[3] or 'chat') .. ','
local now = now_ms()
local events = {}
redis.call('HSET', 'sb:a:' .. aid, 'st', 'offline', 'reason', 'disconnected')
local convs = redis.call('SMEMBERS', 'sb:a:' .. aid .. ':c')
local touched = {}
for _, cid in ipairs(convs) do
	local c = hgetall('sb:c:' .. cid)
	if c.st == 'offered' or
	    (c.st == 'assigned' and string.find(live, ',' .. c.ch .. ',', 1,
	    true)) then
		local v = bump_version(cid)
		back_to_queue(cid, c, now, true)
		release_load(aid, cid, c.ch)
		events[#events + 1] = {'requeued', cid, aid, inst_of(aid), v,
		    c.q, c.ch}
		touched[c.q] = true
	elseif not c.st then
		redis.call('SREM', 'sb:a:' .. aid .. ':c', cid)
	end
end
refresh_advisor(aid)
events[#events + 1] = {'status', '', aid, inst_of(aid), 0, 'offline',
    'disconnected'}
for q, _ in pairs(touched) do
	dispatch_queue(q, now, events, 64)
end
return events
