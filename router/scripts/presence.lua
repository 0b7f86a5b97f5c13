-- presence: heartbeat of the desks an instance holds. A desk that stops
-- beating (disconnected, or its instance died) is re-queued by sweep once
-- cfg grace_ms has passed; a desk that comes back in time loses nothing.
-- ARGV: epoch, advisor, advisor, ...
local err = epoch_error(ARGV[1])
if err then
	return err
end
local now = now_ms()
for i = 2, #ARGV do
	if redis.call('EXISTS', P .. 'a:' .. ARGV[i]) == 1 then
		redis.call('ZADD', P .. 'presence', now, ARGV[i])
	end
end
return #ARGV - 1
