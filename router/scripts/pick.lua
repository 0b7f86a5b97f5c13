-- pick: an advisor takes a conversation from a queue's pull list (the
-- queue view). Atomic like an acceptance: the first pick wins, and the
-- advisor must serve the queue, be signed in, and have free capacity on
-- the channel once blending rules apply.
-- ARGV: epoch, conv, advisor
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, aid = ARGV[2], ARGV[3]
local c = hgetall(P .. 'c:' .. cid)
if not c.st then
	return redis.error_reply('NOCONV conversation ' .. cid ..
	    ' is not in routing')
end
if c.st ~= 'waiting' or not is_pull(c.q, c.ch) or
    redis.call('ZSCORE', P .. 'q:' .. c.q .. ':p', cid) == false then
	return redis.error_reply('NOTWAITING conversation ' .. cid ..
	    ' is not waiting to be picked')
end
local a = hgetall(P .. 'a:' .. aid)
if redis.call('HEXISTS', P .. 'a:' .. aid .. ':q', c.q) == 0 then
	return redis.error_reply('NOTYOURS advisor ' .. aid ..
	    ' does not serve queue ' .. c.q)
end
if not a.st or a.st == 'offline' then
	return redis.error_reply('OFFLINE advisor ' .. aid .. ' is offline')
end
if c.only and c.only ~= '' and c.only ~= aid then
	return redis.error_reply('NOTYOURS conversation ' .. cid ..
	    ' is kept for advisor ' .. c.only)
end
if not advisor_free_on(a, c.ch) then
	return redis.error_reply('FULL advisor ' .. aid ..
	    ' has no free capacity on ' .. c.ch)
end
unqueue(c.q, cid)
redis.call('HINCRBY', P .. 'a:' .. aid, 'load:' .. c.ch, 1)
redis.call('SADD', P .. 'a:' .. aid .. ':c', cid)
local ev = assign(cid, c, aid, now_ms())
ev[#ev + 1] = 'picked'
return emit({ev})
