-- restore: loads routing state for a new epoch from PostgreSQL, run only
-- by the instance holding the rebuild lock (sb:rebuild) while sb:epoch
-- still names the old epoch (or none). Not a routing decision: it writes
-- back what PostgreSQL recorded.
-- ARGV: new epoch, instance, op, ...
--   config  qc "q:ch:timeout_ms[:mode[:priority[:ovq:ovms]]],...", blend "busy=a|b;...", max_missed,
--           grace_ms, live "chat,voice"
--   conv    conv, queue, channel, priority, since_ms, status, advisor,
--           version, wrap-up deadline ms (status wrap_up: the conversation
--           ended and its advisor's capacity is held until then)
--   finish  (publishes the epoch: routing resumes)
if redis.call('GET', 'sb:rebuild') ~= ARGV[2] then
	return redis.error_reply('NOLOCK rebuild lock not held by ' .. ARGV[2])
end
local op = ARGV[3]
if op == 'config' then
	apply_settings(ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
	return 'OK'
elseif op == 'conv' then
	local cid, q, ch = ARGV[4], ARGV[5], ARGV[6]
	local st, aid = ARGV[9], ARGV[10]
	local key = P .. 'c:' .. cid
	redis.call('HSET', key, 'q', q, 'ch', ch, 'pr', ARGV[7], 'since',
	    ARGV[8], 'v', ARGV[11], 'adv', '')
	local acw_end = num(ARGV[12], 0)
	if (st == 'assigned' or (st == 'wrap_up' and acw_end > 0)) and
	    aid ~= '' then
		redis.call('HSET', key, 'st', 'assigned', 'adv', aid)
		if st == 'wrap_up' then
			-- After-contact work: held until its deadline (sweep).
			redis.call('HSET', key, 'st', 'ended', 'end', ARGV[12])
			redis.call('ZADD', P .. 'acw', ARGV[12], cid)
		end
		redis.call('SADD', P .. 'a:' .. aid .. ':c', cid)
		redis.call('HINCRBY', P .. 'a:' .. aid, 'load:' .. ch, 1)
		redis.call('HSETNX', P .. 'a:' .. aid, 'st', 'offline')
	elseif st == 'wrap_up' then
		redis.call('DEL', key)
	else
		-- An offer in flight is lost with the old state: offer again.
		redis.call('HSET', key, 'st', 'waiting')
		redis.call('ZADD', wait_key(q, ch), wait_score(hgetall(key)), cid)
	end
	return 'OK'
elseif op == 'finish' then
	-- When the epoch began: desks announce themselves again within the
	-- grace period (served).
	redis.call('SET', P .. 'born', now_ms())
	redis.call('SET', 'sb:epoch', ARGV[1])
	redis.call('DEL', 'sb:rebuild')
	return 'OK'
end
return redis.error_reply('BADOP ' .. tostring(op))
