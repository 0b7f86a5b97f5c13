-- enqueue: a conversation starts waiting (new, or back after a restart).
-- ARGV: epoch, conv, queue, channel, priority, since_ms, version, only
-- Returns events ({'queued', ...} then any offers made at once).
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, q, ch = ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'c:' .. cid
local st = redis.call('HGET', key, 'st')
if st == 'offered' or st == 'assigned' or st == 'ended' then
	return redis.error_reply('BUSY conversation is ' .. st)
end
if st == 'waiting' then
	-- Already queued (a retry): do not reset its place.
	return {}
end
if redis.call('HEXISTS', P .. 'qc:' .. q, 'to:' .. ch) == 0 then
	return redis.error_reply('NOQUEUE queue ' .. q ..
	    ' does not take channel ' .. ch)
end
local now = now_ms()
local since = num(ARGV[6], now)
redis.call('HSET', key, 'q', q, 'ch', ch, 'pr', num(ARGV[5], 0),
    'since', since, 'st', 'waiting', 'adv', '', 'v', num(ARGV[7], 0),
    'only', ARGV[8] or '')
local c = hgetall(key)
local v = bump_version(cid)
redis.call('ZADD', wait_key(q, ch), wait_score(c), cid)
local events = {{'queued', cid, '', '', v, q, ch}}
dispatch_queue(q, now, events, 64)
return emit(events)
