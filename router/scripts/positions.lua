-- positions: where some conversations stand in queue q (1 is next; 0 when
-- not waiting there), and what the estimated wait is made of: the span in
-- ms between the queue's oldest and newest of its last 20 answers, and how
-- many intervals that span covers (0 with fewer than two answers). The
-- estimated wait of position p is p * span / intervals. Read-only.
-- ARGV: epoch, queue, conv, conv, ...
local err = epoch_error(ARGV[1])
if err then
	return err
end
local q = ARGV[2]
local wkey = P .. 'q:' .. q .. ':w'
local at = redis.call('LRANGE', P .. 'q:' .. q .. ':at', 0, 19)
local span, intervals = 0, 0
if #at >= 2 then
	span = num(at[1], 0) - num(at[#at], 0)
	intervals = #at - 1
end
local out = {span, intervals}
for i = 3, #ARGV do
	local rank = redis.call('ZRANK', wkey, ARGV[i]) or
	    redis.call('ZRANK', P .. 'q:' .. q .. ':p', ARGV[i])
	if rank then
		out[#out + 1] = rank + 1
	else
		out[#out + 1] = 0
	end
end
return out
