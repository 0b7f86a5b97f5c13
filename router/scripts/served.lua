-- served: whether anyone serves queue q now, for a resident starting a
-- chat: a member of the queue whose desk is present (it beats, or went
-- silent less than the grace period ago; sweep takes it out of presence
-- after that) and whose status is not offline. Away and busy members
-- count: they are there and will come back to the queue. Read-only.
-- ARGV: epoch, queue
-- Returns 1, 0, or -1 (cannot tell yet: the routing state was rebuilt a
-- moment ago (within the grace period, at most 5 s), and live desks may not
-- have announced themselves again; the caller lets the chat queue).
local err = epoch_error(ARGV[1])
if err then
	return err
end
local q = ARGV[2]
-- Someone ready (available with free capacity) is present: the common case.
for _, ch in ipairs(CHANNELS) do
	if redis.call('ZCARD', P .. 'q:' .. q .. ':r:' .. ch) > 0 then
		return 1
	end
end
local cursor = '0'
repeat
	local page = redis.call('SSCAN', P .. 'q:' .. q .. ':m', cursor, 'COUNT',
	    64)
	cursor = page[1]
	for _, aid in ipairs(page[2]) do
		if redis.call('ZSCORE', P .. 'presence', aid) then
			local st = redis.call('HGET', P .. 'a:' .. aid, 'st')
			if st and st ~= 'offline' then
				return 1
			end
		end
	end
until cursor == '0'
-- Every instance announces its desks as soon as it learns the new epoch
-- (published by the rebuild, or met at its next call).
local settle = math.min(num(redis.call('HGET', P .. 'cfg', 'grace_ms'),
    30000), 5000)
if now_ms() - num(redis.call('GET', P .. 'born'), 0) < settle then
	return -1
end
return 0
