-- waiting: the queue view. The conversations waiting in queue q, best
-- first: those of its pulled channels (advisors pick them) and those of
-- its pushed channels (offered by the router; shown, not pickable).
-- Read-only.
-- ARGV: epoch, queue, advisor ("" for a supervisor: any queue), limit
-- Returns: pulled count, pushed count, then per conversation shown:
--          {conv, channel, waited ms, priority, mode ('pull'|'push')}
local err = epoch_error(ARGV[1])
if err then
	return err
end
local q, aid = ARGV[2], ARGV[3]
local limit = math.max(1, math.min(num(ARGV[4], 50), 200))
if aid ~= '' and
    redis.call('HEXISTS', P .. 'a:' .. aid .. ':q', q) == 0 then
	return redis.error_reply('NOTYOURS advisor ' .. aid ..
	    ' does not serve queue ' .. q)
end
local now = now_ms()
local pkey, wkey = P .. 'q:' .. q .. ':p', P .. 'q:' .. q .. ':w'
local out = {redis.call('ZCARD', pkey), redis.call('ZCARD', wkey)}
for _, list in ipairs({{pkey, 'pull'}, {wkey, 'push'}}) do
	local room = limit - (#out - 2)
	if room > 0 then
		for _, cid in ipairs(redis.call('ZRANGE', list[1], 0, room - 1)) do
			local c = hgetall(P .. 'c:' .. cid)
			out[#out + 1] = {cid, c.ch or '',
			    tostring(now - num(c.since, now)), c.pr or '0',
			    list[2]}
		end
	end
end
return out
