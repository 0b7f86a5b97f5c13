-- accept: the advisor takes the conversation offered to them.
-- ARGV: epoch, conv, advisor
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, aid = ARGV[2], ARGV[3]
local c = hgetall(P .. 'c:' .. cid)
if c.st ~= 'offered' or c.adv ~= aid then
	return redis.error_reply('NOTOFFERED conversation ' .. cid ..
	    ' is not offered to ' .. aid)
end
local now = now_ms()
local v = bump_version(cid)
redis.call('HSET', P .. 'c:' .. cid, 'st', 'assigned')
redis.call('HDEL', P .. 'c:' .. cid, 'dl', 'front', 'only')
redis.call('ZREM', P .. 'offers', cid)
redis.call('DEL', P .. 'c:' .. cid .. ':x')
redis.call('LPUSH', P .. 'q:' .. c.q .. ':at', now)
redis.call('LTRIM', P .. 'q:' .. c.q .. ':at', 0, 19)
-- Fairness: the advisor who just took work goes to the back.
redis.call('HSET', P .. 'a:' .. aid, 'miss', 0, 'idle', now)
refresh_advisor(aid)
return {{'accepted', cid, aid, inst_of(aid), v, c.q, c.ch,
    tostring(now - num(c.since, now))}}
