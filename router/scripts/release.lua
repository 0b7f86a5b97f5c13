-- release: a conversation leaves routing (closed, wrapped up, abandoned
-- by the customer); the advisor's capacity frees and waiting work is
-- offered at once.
-- ARGV: epoch, conv, why, by (advisor who must hold it; "" for anyone)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, why = ARGV[2], ARGV[3]
local c = hgetall(P .. 'c:' .. cid)
if not c.st then
	return {}
end
if ARGV[4] and ARGV[4] ~= '' and c.adv ~= ARGV[4] then
	return redis.error_reply('NOTYOURS conversation ' .. cid ..
	    ' is not assigned to ' .. ARGV[4])
end
local now = now_ms()
local v = bump_version(cid)
unqueue(c.q, cid)
redis.call('ZREM', P .. 'offers', cid)
redis.call('DEL', P .. 'c:' .. cid, P .. 'c:' .. cid .. ':x')
local events = {{'released', cid, c.adv or '', inst_of(c.adv or ''), v,
    c.q, c.ch, why, c.st}}
if c.adv and c.adv ~= '' then
	release_load(c.adv, cid, c.ch)
	dispatch_advisor_queues(c.adv, now, events)
end
return events
