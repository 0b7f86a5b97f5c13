-- sweep: offers past their deadline time out; the conversation goes to
-- the next advisor, the advisor's missed count grows (auto-away at
-- cfg max_missed). Any instance may run it; it is idempotent.
-- ARGV: epoch, limit
local err = epoch_error(ARGV[1])
if err then
	return err
end
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', P .. 'offers', '-inf', now, 'LIMIT', 0,
    num(ARGV[2], 100))
local events = {}
for _, cid in ipairs(due) do
	local c = hgetall(P .. 'c:' .. cid)
	if c.st == 'offered' and c.adv and c.adv ~= '' then
		end_offer(cid, c, c.adv, 'timed_out', now, events)
	else
		redis.call('ZREM', P .. 'offers', cid)
	end
end
-- Desks silent for longer than the grace period.
local grace = num(redis.call('HGET', P .. 'cfg', 'grace_ms'), 30000)
local live = redis.call('HGET', P .. 'cfg', 'live') or 'chat,voice,visit'
local gone = redis.call('ZRANGEBYSCORE', P .. 'presence', '-inf', now - grace,
    'LIMIT', 0, num(ARGV[2], 100))
for _, aid in ipairs(gone) do
	requeue_advisor(aid, live, now, events)
end
return events
