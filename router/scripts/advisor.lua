-- advisor: an advisor logs in, re-announces presence or changes status.
-- Leaving 'available' withdraws their open offers.
-- ARGV: epoch, advisor, status (available|busy|away|wrap_up|offline),
--       reason, instance, capacities "chat=3,email=5,...",
--       queues "queue:proficiency,..." ("-" keeps the current ones)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local aid, st, reason, inst = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local valid = {available = 1, busy = 1, away = 1, wrap_up = 1, offline = 1}
if not valid[st] then
	return redis.error_reply('BADSTATUS ' .. st)
end
local key = P .. 'a:' .. aid
local now = now_ms()
local old = redis.call('HGET', key, 'st')
if st == 'available' and old ~= 'available' then
	redis.call('HSET', key, 'idle', now, 'miss', 0)
end
redis.call('HSET', key, 'st', st, 'reason', reason or '', 'inst', inst)
redis.call('SADD', P .. 'advisors', aid)
-- Announcing is a sign of life of the desk, like a heartbeat.
if st ~= 'offline' then
	redis.call('ZADD', P .. 'presence', now, aid)
else
	redis.call('ZREM', P .. 'presence', aid)
end

for pair in string.gmatch(ARGV[6] or '', '[^,]+') do
	local ch, cap = string.match(pair, '^(%a+)=(%d+)$')
	if ch then
		redis.call('HSET', key, 'cap:' .. ch, cap)
	end
end
if ARGV[7] and ARGV[7] ~= '-' then
	-- Leave the ready sets of queues no longer served.
	local before = redis.call('HKEYS', key .. ':q')
	for _, q in ipairs(before) do
		for _, ch in ipairs(CHANNELS) do
			redis.call('ZREM', P .. 'q:' .. q .. ':r:' .. ch, aid)
		end
		redis.call('SREM', P .. 'q:' .. q .. ':m', aid)
	end
	redis.call('DEL', key .. ':q')
	for pair in string.gmatch(ARGV[7], '[^,]+') do
		local q, prof = string.match(pair, '^([^:]+):(%d+)$')
		if q then
			redis.call('HSET', key .. ':q', q, prof)
			redis.call('SADD', P .. 'q:' .. q .. ':m', aid)
		end
	end
end
refresh_advisor(aid)
local events = {{'status', '', aid, inst, next_version(), st,
    reason or '', caps_of(aid)}}
if st == 'available' then
	dispatch_advisor_queues(aid, now, events)
else
	-- Away, busy, wrap-up or offline: an open offer is not left to
	-- time out; it goes to the next advisor now.
	withdraw_offers(aid, st, now, events)
end
return emit(events)
