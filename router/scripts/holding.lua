-- holding: what an advisor holds now, for a desk that (re)connects or
-- after a rebuild: open offers, assigned conversations and those in
-- after-contact work, as events of the usual shape ('offered' with
-- deadline and wait, 'accepted' with wait, 'ended' with the wrap-up
-- deadline and wait), then one 'status' event (status, reason, capacities as
-- "chat=3,email=5"). Read-only: it decides
-- nothing.
-- ARGV: epoch, advisor
local err = epoch_error(ARGV[1])
if err then
	return err
end
local aid = ARGV[2]
local now = now_ms()
local inst = inst_of(aid)
local out = {}
for _, cid in ipairs(redis.call('SMEMBERS', P .. 'a:' .. aid .. ':c')) do
	local c = hgetall(P .. 'c:' .. cid)
	local waited = tostring(now - num(c.since, now))
	if c.adv == aid and c.st == 'offered' then
		out[#out + 1] = {'offered', cid, aid, inst, num(c.v, 0), c.q, c.ch,
		    c.dl or '0', waited}
	elseif c.adv == aid and c.st == 'assigned' then
		out[#out + 1] = {'accepted', cid, aid, inst, num(c.v, 0), c.q, c.ch,
		    waited}
	elseif c.adv == aid and c.st == 'ended' then
		out[#out + 1] = {'ended', cid, aid, inst, num(c.v, 0), c.q, c.ch,
		    c['end'] or '0', waited}
	end
end
-- Last, the advisor's status as routing knows it ('offline' when unknown).
local a = redis.call('HMGET', P .. 'a:' .. aid, 'st', 'reason')
out[#out + 1] = {'status', '', aid, inst, 0, a[1] or 'offline', a[2] or '',
    caps_of(aid)}
return out
