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
return {assign(cid, c, aid, now_ms())}
