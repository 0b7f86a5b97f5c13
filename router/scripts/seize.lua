-- seize: an advisor answered a call on their phone (the phone system told
-- us): the call's conversation is theirs at once. Unlike accept and pick
-- this cannot be refused for capacity, blending or status: the call is a
-- fact. It counts against the advisor's capacity on the channel from now
-- on, so the blending rules (a live call blocks chats) keep new work from
-- them until it ends (finish) and its wrap-up is over.
-- ARGV: epoch, conv, queue, channel, since_ms, advisor
-- Refused: NOQUEUE (the queue does not take the channel), OFFLINE (the
-- advisor is not signed in here: their desk would not know), BUSY (the
-- conversation is another advisor's or ended). A retry for the same
-- advisor returns no events.
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, q, ch, aid = ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local key = P .. 'c:' .. cid
local c = hgetall(key)
if c.st == 'assigned' and c.adv == aid then
	return {}
end
if c.st == 'assigned' or c.st == 'ended' then
	return redis.error_reply('BUSY conversation is ' .. c.st)
end
if redis.call('HEXISTS', P .. 'qc:' .. q, 'to:' .. ch) == 0 then
	return redis.error_reply('NOQUEUE queue ' .. q ..
	    ' does not take channel ' .. ch)
end
local a = hgetall(P .. 'a:' .. aid)
if not a.st or a.st == 'offline' then
	return redis.error_reply('OFFLINE advisor ' .. aid .. ' is offline')
end
local now = now_ms()
local events = {}
if not c.st then
	redis.call('HSET', key, 'q', q, 'ch', ch, 'pr', 0,
	    'since', num(ARGV[5], now), 'st', 'waiting', 'adv', '', 'v', 0,
	    'only', '')
	c = hgetall(key)
	events[#events + 1] = {'queued', cid, '', '', bump_version(cid), q, ch}
else
	-- Waiting or offered (a callback being offered when the resident
	-- rang in): out of the queue, and any offer withdrawn.
	unqueue(c.q, cid)
	if c.st == 'offered' then
		release_load(c.adv, cid, c.ch)
	end
end
redis.call('HINCRBY', P .. 'a:' .. aid, 'load:' .. c.ch, 1)
redis.call('SADD', P .. 'a:' .. aid .. ':c', cid)
local ev = assign(cid, c, aid, now)
ev[#ev + 1] = 'seized'
events[#events + 1] = ev
return emit(events)
