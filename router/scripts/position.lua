-- position: a waiting conversation's place in its queue (1 is next) and
-- the estimated wait in ms from the queue's recent answer rate (-1 when
-- fewer than two recent answers). Read-only.
-- ARGV: epoch, conv
local c = hgetall(P .. 'c:' .. ARGV[2])
if c.st ~= 'waiting' then
	return {0, -1, c.st or 'none'}
end
local rank = redis.call('ZRANK', P .. 'q:' .. c.q .. ':w', ARGV[2])
if not rank then
	return {0, -1, 'none'}
end
local pos = rank + 1
local at = redis.call('LRANGE', P .. 'q:' .. c.q .. ':at', 0, 19)
local ewt = -1
if #at >= 2 then
	local span = num(at[1], 0) - num(at[#at], 0)
	if span > 0 then
		ewt = math.floor(pos * span / (#at - 1))
	end
end
return {pos, ewt, 'waiting'}
