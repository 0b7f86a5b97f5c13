-- sweep: offers past their deadline time out; the conversation goes to
-- the next advisor, the advisor's missed count grows (auto-away at
-- cfg max_missed). Conversations whose refusal cool-down ended are
-- offered again. Wrap-up times that are over free their advisor's
-- capacity. Any instance may run it; it is idempotent.
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
-- Waiting conversations whose refusal cool-down ended: offered again now
-- (pick_advisor no longer skips that advisor), not at the next event.
local redo = {}
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'cool', '-inf', now,
    'LIMIT', 0, num(ARGV[2], 100))) do
	redis.call('ZREM', P .. 'cool', cid)
	local c = hgetall(P .. 'c:' .. cid)
	-- The next cool-down of it to end (offered meanwhile, it may be
	-- refused again before then).
	local nxt = redis.call('ZRANGEBYSCORE', P .. 'c:' .. cid .. ':refused',
	    '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
	if c.st and #nxt > 0 then
		redis.call('ZADD', P .. 'cool', nxt[2], cid)
	end
	if c.st == 'waiting' then
		redo[#redo + 1] = c.q
		if c.ov and c.ov ~= '' then
			redo[#redo + 1] = c.ov
		end
	end
end
local done = {}
for _, q in ipairs(redo) do
	if not done[q] then
		done[q] = true
		dispatch_queue(q, now, events, 64)
	end
end
-- Ended conversations whose wrap-up time is over: the advisor's capacity
-- frees.
for _, cid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'acw', '-inf', now,
    'LIMIT', 0, num(ARGV[2], 100))) do
	local c = hgetall(P .. 'c:' .. cid)
	if c.st == 'ended' and c.adv and c.adv ~= '' then
		acw_free(cid, c, now, events)
	else
		redis.call('ZREM', P .. 'acw', cid)
	end
end
-- Conversations waiting longer than their queue's overflow time are also
-- offered to the overflow queue's advisors from now on. Only the first 64
-- of each queue are looked at per sweep (bounded work).
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
	local ov = redis.call('HMGET', P .. 'qc:' .. q, 'ovq', 'ovms')
	if ov[1] and ov[2] then
		local due_since = now - num(ov[2], 0)
		local moved = false
		for _, cid in ipairs(redis.call('ZRANGE', P .. 'q:' .. q .. ':w', 0,
		    63)) do
			local c = hgetall(P .. 'c:' .. cid)
			if (not c.ov or c.ov == '') and c.st == 'waiting' and
			    num(c.since, now) <= due_since then
				local v = bump_version(cid)
				redis.call('HSET', P .. 'c:' .. cid, 'ov', ov[1])
				redis.call('ZADD', P .. 'q:' .. ov[1] .. ':o', wait_score(c),
				    cid)
				events[#events + 1] = {'overflowed', cid, '', '', v, q, c.ch,
				    ov[1]}
				moved = true
			end
		end
		if moved then
			dispatch_queue(ov[1], now, events, 64)
		end
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
return emit(events)
