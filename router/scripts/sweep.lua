-- sweep: offers past their deadline time out; the conversation goes to
-- the next advisor, the advisor's missed count grows (auto-away at
-- sb:cfg max_missed). Any instance may run it; it is idempotent.
-- ARGV: epoch, limit
local err = epoch_error(ARGV[1])
if err then
	return err
end
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', 'sb:offers', '-inf', now, 'LIMIT', 0,
    num(ARGV[2], 100))
local events = {}
for _, cid in ipairs(due) do
	local c = hgetall('sb:c:' .. cid)
	if c.st == 'offered' and c.adv and c.adv ~= '' then
		end_offer(cid, c, c.adv, 'timed_out', now, events)
	else
		redis.call('ZREM', 'sb:offers', cid)
	end
end
return events
