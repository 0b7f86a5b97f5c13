-- transfer: moves a conversation to another queue, or pins it to a named
-- advisor (in its queue or the given one). It keeps its original wait
-- time. A supervisor's reassignment is a transfer to an advisor.
-- ARGV: epoch, conv, queue ("" keeps the queue), advisor ("" for any),
--       by (advisor who must hold it; "" for a supervisor)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local cid, newq, only = ARGV[2], ARGV[3], ARGV[4]
local c = hgetall(P .. 'c:' .. cid)
if not c.st then
	return redis.error_reply('NOCONV conversation ' .. cid ..
	    ' is not in routing')
end
if c.st == 'ended' then
	return redis.error_reply('NOCONV conversation ' .. cid ..
	    ' has ended')
end
if ARGV[5] and ARGV[5] ~= '' and c.adv ~= ARGV[5] then
	return redis.error_reply('NOTYOURS conversation ' .. cid ..
	    ' is not assigned to ' .. ARGV[5])
end
if newq == '' then
	newq = c.q
end
if redis.call('HEXISTS', P .. 'qc:' .. newq, 'to:' .. c.ch) == 0 then
	return redis.error_reply('NOQUEUE queue ' .. newq ..
	    ' does not take channel ' .. c.ch)
end
local now = now_ms()
local v = bump_version(cid)
local from = c.adv or ''
unqueue(c.q, cid)
redis.call('ZREM', P .. 'offers', cid)
redis.call('ZREM', P .. 'cool', cid)
redis.call('DEL', P .. 'c:' .. cid .. ':refused')
if from ~= '' then
	release_load(from, cid, c.ch)
end
redis.call('HSET', P .. 'c:' .. cid, 'q', newq, 'st', 'waiting', 'adv', '',
    'only', only)
redis.call('HDEL', P .. 'c:' .. cid, 'dl', 'front', 'ov')
c.q, c.front = newq, nil
redis.call('ZADD', wait_key(newq, c.ch), wait_score(c), cid)
local events = {{'transferred', cid, from, inst_of(from), v, newq, c.ch,
    only}}
dispatch_queue(newq, now, events, 64)
if from ~= '' then
	dispatch_advisor_queues(from, now, events)
end
return emit(events)
