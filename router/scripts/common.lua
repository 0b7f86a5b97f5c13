-- common.lua: helpers shared by every routing script. The build prepends
-- this file to each script in this folder, so each EVALSHA is one atomic
-- unit with no shared server-side state but the keys below.
--
-- Every script's first argument is the routing epoch the caller knows. A
-- call whose epoch is not the current one (sb:epoch) is refused, and all
-- other keys live under "sb:<epoch>:" (written P below), so the state of
-- an older epoch is never read again once a rebuild has made a new one.
-- Keys (under P):
--   c:<conv>             hash: q, ch, pr (priority), since (ms), st
--                        (waiting|offered|assigned|ended), adv, dl (offer
--                        deadline ms), v (route version), only (advisor
--                        a transfer is pinned to), front (re-queued first),
--                        ov (the queue it overflowed to), end (wrap-up
--                        deadline ms of an ended conversation)
--   c:<conv>:refused     zset: advisors who rejected or missed an offer of
--                        this conversation -> when their cool-down ends
--                        (ms); not offered it again before then while
--                        another eligible advisor exists. (Until issue 13
--                        it was the set c:<conv>:x, "never again"; a new
--                        name, so instances of both versions can share
--                        Redis during an upgrade.)
--   q:<q>:w              zset: waiting conversations, best first (channels
--                        the queue routes in push mode: offered)
--   q:<q>:p              zset: the same for channels in pull mode (advisors
--                        pick them from the queue view; never offered)
--   q:<q>:o              zset: conversations of other queues that waited
--                        past their queue's overflow time and may also be
--                        offered to this queue's advisors
--   q:<q>:r:<ch>         zset: advisors ready for channel ch in queue q,
--                        longest idle first, proficiency breaking ties
--   q:<q>:at             list: times of the latest answers (newest first)
--   q:<q>:m              set: advisors announced as members of q (served)
--   qc:<q>               hash: to:<ch> offer timeout ms per channel taken;
--                        pull:<ch> '1' when that channel is pulled; pr
--                        the queue's priority (0-100, higher served first
--                        by an advisor free for several queues); ovq, ovms
--                        the overflow queue and after how long (ms);
--                        cool:<ch> refusal cool-down ms (absent: 60000);
--                        acw:<ch> wrap-up time ms (capacity held after a
--                        conversation ends; absent or 0: none)
--   a:<adv>              hash: st, reason, inst, idle (ms), miss,
--                        cap:<ch>, load:<ch>
--   a:<adv>:q            hash: queue -> proficiency (1-10)
--   a:<adv>:c            set: conversations offered or assigned to adv
--   offers               zset: offered conversations by deadline
--   cool                 zset: waiting conversations -> the next end of a
--                        cool-down of theirs (ms): the sweep offers them
--                        again then
--   acw                  zset: ended conversations (after-contact work:
--                        still counted against their advisor) by wrap-up
--                        deadline
--   advisors             set: every advisor announced in this epoch
--   queues               set: every queue with settings (qc:<q>)
--   presence             zset: advisor -> last heartbeat (ms) of its desk
--   blend                hash: busy channel -> comma list it blocks
--   seq                  counter of decisions in this epoch
--   born                 when this epoch's state was restored (ms)
--   cfg                  hash: max_missed (auto-away threshold), grace_ms
--                        (how long a desk may be gone), live (channels
--                        re-queued when it is)
-- Outside the epoch prefix (it outlives a rebuild):
--   sb:events            stream: every decision's events, appended by the
--                        script that took it (emit), one entry per call,
--                        field e = the events as JSON (versions as strings).
--                        The calling instance records them in PostgreSQL
--                        and deletes the entry once committed; entries
--                        older than a few seconds are recorded by the
--                        drainer of any instance (route.c). Capped at
--                        about STREAM_MAX entries.
--   sb:drain             the drainer's lease (an instance's tag, PX)
-- Versions: v = epoch * 2^32 + counter (one counter, `seq`, per epoch), so
-- a decision taken in an older epoch always carries a smaller version than
-- any taken in a newer one, and versions give the order of all decisions.

local CHANNELS = {'chat', 'email', 'sms', 'voice', 'visit', 'web'}
local STREAM = 'sb:events'
-- About 100 s of entries at 1,000 decisions a second: a PostgreSQL outage
-- longer than that loses the oldest unrecorded history (router.md).
local STREAM_MAX = 100000
local P = 'sb:' .. (ARGV[1] or '') .. ':'

-- A decision and its history are one atomic act: the events go to the
-- stream in the same script. The entry id is returned after the events
-- (a string where each event is an array), so the caller can delete the
-- entry once it has recorded them.
local function emit(events)
	if #events == 0 then
		return events
	end
	local flat = {}
	for i, e in ipairs(events) do
		local copy = {}
		for k, x in ipairs(e) do
			if type(x) == 'number' then
				copy[k] = string.format('%.0f', x)
			else
				copy[k] = x
			end
		end
		flat[i] = copy
	end
	events[#events + 1] = redis.call('XADD', STREAM, 'MAXLEN', '~',
	    STREAM_MAX, '*', 'e', cjson.encode(flat))
	return events
end

local function now_ms()
	local t = redis.call('TIME')
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function epoch_error(expected)
	local cur = redis.call('GET', 'sb:epoch')
	if not cur then
		return redis.error_reply('NOEPOCH routing state is empty')
	end
	if cur ~= expected then
		return redis.error_reply('EPOCH ' .. cur)
	end
	return nil
end

local function hgetall(key)
	local flat = redis.call('HGETALL', key)
	local t = {}
	for i = 1, #flat, 2 do
		t[flat[i]] = flat[i + 1]
	end
	return t
end

-- The conversation cid if it is offered to advisor aid; else nil and the
-- NOTOFFERED error reply.
local function offered_to(cid, aid)
	local c = hgetall(P .. 'c:' .. cid)
	if c.st ~= 'offered' or c.adv ~= aid then
		return nil, redis.error_reply('NOTOFFERED conversation ' .. cid ..
		    ' is not offered to ' .. aid)
	end
	return c
end

local function num(v, default)
	local n = tonumber(v)
	if n == nil then
		return default
	end
	return n
end

-- Lower scores are served first: priority band, then waiting since.
-- Priority is 0-100 (higher first); a re-queued conversation goes first.
local function wait_score(c)
	local band = 100 - num(c.pr, 0)
	if c.front == '1' then
		band = -1
	end
	-- Formatted by hand: Redis turns Lua numbers into strings with 14
	-- significant digits, which would blur milliseconds at this size.
	return string.format('%.0f', band * 1e13 + num(c.since, 0))
end

-- Pulled channels wait apart, so offering never scans past them.
local function is_pull(q, ch)
	return redis.call('HEXISTS', P .. 'qc:' .. q, 'pull:' .. ch) == 1
end

local function wait_key(q, ch)
	if is_pull(q, ch) then
		return P .. 'q:' .. q .. ':p'
	end
	return P .. 'q:' .. q .. ':w'
end

-- Takes a conversation out of its queue, whichever list it waits in.
local function unqueue(q, cid)
	redis.call('ZREM', P .. 'q:' .. q .. ':w', cid)
	redis.call('ZREM', P .. 'q:' .. q .. ':p', cid)
	local ov = redis.call('HGET', P .. 'c:' .. cid, 'ov')
	if ov then
		redis.call('ZREM', P .. 'q:' .. ov .. ':o', cid)
	end
end

local function advisor_free_on(a, ch)
	if num(a['load:' .. ch], 0) >= num(a['cap:' .. ch], 0) then
		return false
	end
	for _, busy in ipairs(CHANNELS) do
		if num(a['load:' .. busy], 0) > 0 then
			local blocked = redis.call('HGET', P .. 'blend', busy)
			if blocked and string.find(',' .. blocked .. ',',
			    ',' .. ch .. ',', 1, true) then
				return false
			end
		end
	end
	return true
end

-- Puts the advisor in, or takes them out of, every ready set they belong
-- to, from their status, capacity, load and blending.
local function refresh_advisor(aid)
	local a = hgetall(P .. 'a:' .. aid)
	local qs = redis.call('HGETALL', P .. 'a:' .. aid .. ':q')
	for i = 1, #qs, 2 do
		local q, prof = qs[i], num(qs[i + 1], 1)
		for _, ch in ipairs(CHANNELS) do
			local key = P .. 'q:' .. q .. ':r:' .. ch
			local serves = redis.call('HEXISTS', P .. 'qc:' .. q,
			    'to:' .. ch) == 1 and not is_pull(q, ch)
			if serves and a.st == 'available' and
			    advisor_free_on(a, ch) then
				-- proficiency only breaks ties between equal idle times
				redis.call('ZADD', key, string.format('%.1f',
				    num(a.idle, 0) - prof / 10), aid)
			else
				redis.call('ZREM', key, aid)
			end
		end
	end
end

-- Waiting conversations move between the push and pull lists of their
-- queue when the queue's mode for their channel changed.
local function resort_waiting(q)
	for _, list in ipairs({':w', ':p'}) do
		local key = P .. 'q:' .. q .. list
		for _, cid in ipairs(redis.call('ZRANGE', key, 0, -1)) do
			local c = hgetall(P .. 'c:' .. cid)
			local want = c.ch and wait_key(q, c.ch) or key
			if want ~= key then
				redis.call('ZREM', key, cid)
				redis.call('ZADD', want, wait_score(c), cid)
			end
		end
	end
end

-- Replaces the queue settings, blending rules and router settings.
-- qc "q:ch:timeout_ms[:mode[:queue priority[:overflow queue:after ms
-- [:cool-down ms[:wrap-up ms]]]]],...", mode push or pull (the overflow
-- fields may be empty);
-- blend "busy=a|b;...".
local function apply_settings(qc, blend, max_missed, grace_ms, live)
	for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
		redis.call('DEL', P .. 'qc:' .. q)
	end
	redis.call('DEL', P .. 'queues', P .. 'blend')
	for q, ch, to, mode, pr, ovq, ovms, cool, acw in string.gmatch(qc,
	    '([^:,]+):(%a+):(%d+):?(%a*):?(%d*):?([^:,]*):?(%d*):?(%d*):?(%d*)')
	    do
		redis.call('HSET', P .. 'qc:' .. q, 'to:' .. ch, to)
		if cool ~= '' then
			redis.call('HSET', P .. 'qc:' .. q, 'cool:' .. ch, cool)
		end
		if acw ~= '' then
			redis.call('HSET', P .. 'qc:' .. q, 'acw:' .. ch, acw)
		end
		if pr ~= '' then
			redis.call('HSET', P .. 'qc:' .. q, 'pr', pr)
		end
		if ovq ~= '' and ovms ~= '' then
			redis.call('HSET', P .. 'qc:' .. q, 'ovq', ovq, 'ovms', ovms)
		end
		if mode == 'pull' then
			redis.call('HSET', P .. 'qc:' .. q, 'pull:' .. ch, '1')
		end
		redis.call('SADD', P .. 'queues', q)
	end
	-- A channel's mode may have changed: every waiting conversation is
	-- put in the list its mode says. Settings are applied only when they
	-- changed (and once per rebuild), like the advisor refresh that
	-- follows, which costs about as much.
	for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
		resort_waiting(q)
	end
	for busy, blocked in string.gmatch(blend, '(%a+)=([%a|]+)') do
		redis.call('HSET', P .. 'blend', busy,
		    (string.gsub(blocked, '|', ',')))
	end
	redis.call('HSET', P .. 'cfg', 'max_missed', max_missed, 'grace_ms',
	    grace_ms, 'live', live)
end

-- The next decision's version: epoch * 2^32 + a counter shared by every
-- conversation of the epoch, so versions order all decisions, not only
-- those of one conversation (the invariant checks rely on it). Never
-- below what the conversation already had.
local function next_version()
	return num(ARGV[1], 0) * 4294967296 + redis.call('INCR', P .. 'seq')
end

local function bump_version(cid)
	local v = next_version()
	local cur = num(redis.call('HGET', P .. 'c:' .. cid, 'v'), 0)
	if v <= cur then
		v = cur + 1
	end
	redis.call('HSET', P .. 'c:' .. cid, 'v', string.format('%.0f', v))
	return v
end

-- An advisor's capacities, "chat=3,email=5" (channels with room for any).
local function caps_of(aid)
	local a = hgetall(P .. 'a:' .. aid)
	local out = {}
	for _, ch in ipairs(CHANNELS) do
		if num(a['cap:' .. ch], 0) > 0 then
			out[#out + 1] = ch .. '=' .. a['cap:' .. ch]
		end
	end
	return table.concat(out, ',')
end

local function inst_of(aid)
	return redis.call('HGET', P .. 'a:' .. aid, 'inst') or ''
end

-- The best ready advisor for a conversation, or nil. An advisor who
-- refused it (rejected, or let the offer time out) is skipped while their
-- cool-down runs, but only when another eligible advisor exists: a
-- resident never waits for an advisor who is free, only for a better
-- choice (then at most until the first cool-down ends; the sweep offers
-- it again at that moment, see `cool`).
local function pick_advisor(q, cid, c, now)
	local key = P .. 'q:' .. q .. ':r:' .. c.ch
	if c.only and c.only ~= '' then
		if redis.call('ZSCORE', key, c.only) then
			return c.only
		end
		return nil
	end
	local xkey = P .. 'c:' .. cid .. ':refused'
	-- Among the first (refusals + 1) candidates one has not refused it.
	local nx = math.min(redis.call('ZCARD', xkey), 255)
	local cands = redis.call('ZRANGE', key, 0, nx)
	for _, aid in ipairs(cands) do
		if nx == 0 or num(redis.call('ZSCORE', xkey, aid), 0) <= now then
			return aid
		end
	end
	if #cands == 1 and redis.call('ZCARD', key) == 1 then
		return cands[1]
	end
	return nil
end

-- Advisor aid refused conversation cid: not offered it again for the
-- queue's cool-down while someone else can take it.
local function refuse(cid, c, aid, now)
	local cool = num(redis.call('HGET', P .. 'qc:' .. c.q, 'cool:' .. c.ch),
	    60000)
	local ends = string.format('%.0f', now + cool)
	redis.call('ZADD', P .. 'c:' .. cid .. ':refused', ends, aid)
	if cool > 0 then
		redis.call('ZADD', P .. 'cool', 'LT', ends, cid)
	end
end

local function make_offer(cid, c, aid, now, events)
	local q, ch = c.q, c.ch
	local timeout = num(redis.call('HGET', P .. 'qc:' .. q, 'to:' .. ch),
	    30000)
	local dl = now + timeout
	local v = bump_version(cid)
	redis.call('HSET', P .. 'c:' .. cid, 'st', 'offered', 'adv', aid, 'dl', dl)
	unqueue(q, cid)
	redis.call('ZADD', P .. 'offers', dl, cid)
	redis.call('HINCRBY', P .. 'a:' .. aid, 'load:' .. ch, 1)
	redis.call('SADD', P .. 'a:' .. aid .. ':c', cid)
	refresh_advisor(aid)
	events[#events + 1] = {'offered', cid, aid, inst_of(aid), v, q, ch,
	    tostring(dl), tostring(now - num(c.since, now))}
end

local function queue_has_ready(q)
	for _, ch in ipairs(CHANNELS) do
		if redis.call('ZCARD', P .. 'q:' .. q .. ':r:' .. ch) > 0 then
			return true
		end
	end
	return false
end

-- Offers waiting conversations of queue q, best first, to ready advisors.
-- Scans at most `budget` conversations (bounded work per call).
-- Scans its own waiting list, then the conversations other queues
-- overflowed to it (offered to its ready advisors too).
local function dispatch_queue(q, now, events, budget)
	for _, list in ipairs({':w', ':o'}) do
		local wkey = P .. 'q:' .. q .. list
		local skipped = 0
		while budget > 0 and queue_has_ready(q) do
			local batch = redis.call('ZRANGE', wkey, skipped, skipped + 31)
			if #batch == 0 then
				break
			end
			for _, cid in ipairs(batch) do
				budget = budget - 1
				local c = hgetall(P .. 'c:' .. cid)
				local aid = nil
				if c.ch then
					aid = pick_advisor(q, cid, c, now)
				end
				if aid then
					make_offer(cid, c, aid, now, events)
				else
					skipped = skipped + 1
				end
				if budget <= 0 then
					return
				end
			end
		end
	end
end

-- Offers the waiting work of an advisor's queues: the queue with the
-- higher priority first and, between queues of equal priority, the one
-- whose first conversation should be served first (its own priority,
-- then how long it waited).
local function dispatch_advisor_queues(aid, now, events)
	local order = {}
	for _, q in ipairs(redis.call('HKEYS', P .. 'a:' .. aid .. ':q')) do
		local head = redis.call('ZRANGE', P .. 'q:' .. q .. ':w', 0, 0,
		    'WITHSCORES')
		if #head > 0 then
			order[#order + 1] = {q = q, s = tonumber(head[2]),
			    pr = num(redis.call('HGET', P .. 'qc:' .. q, 'pr'), 50)}
		end
	end
	table.sort(order, function(a, b)
		if a.pr ~= b.pr then
			return a.pr > b.pr
		end
		return a.s < b.s
	end)
	for _, o in ipairs(order) do
		dispatch_queue(o.q, now, events, 64)
	end
end

-- The advisor takes the conversation (an accepted offer, or a pick; its
-- capacity is already counted): assigned, answer time noted for the
-- estimated wait, and the advisor goes to the back (fairness). Returns
-- the 'accepted' event.
local function assign(cid, c, aid, now)
	local v = bump_version(cid)
	redis.call('HSET', P .. 'c:' .. cid, 'st', 'assigned', 'adv', aid)
	redis.call('HDEL', P .. 'c:' .. cid, 'dl', 'front', 'only')
	redis.call('ZREM', P .. 'offers', cid)
	redis.call('ZREM', P .. 'cool', cid)
	redis.call('DEL', P .. 'c:' .. cid .. ':refused')
	redis.call('LPUSH', P .. 'q:' .. c.q .. ':at', now)
	redis.call('LTRIM', P .. 'q:' .. c.q .. ':at', 0, 19)
	redis.call('HSET', P .. 'a:' .. aid, 'miss', 0, 'idle', now)
	refresh_advisor(aid)
	return {'accepted', cid, aid, inst_of(aid), v, c.q, c.ch,
	    tostring(now - num(c.since, now))}
end

-- Back to waiting after a reject, a missed offer or a lost advisor.
local function back_to_queue(cid, c, now, front)
	redis.call('HSET', P .. 'c:' .. cid, 'st', 'waiting', 'adv', '')
	redis.call('HDEL', P .. 'c:' .. cid, 'dl')
	if front then
		redis.call('HSET', P .. 'c:' .. cid, 'front', '1')
		c.front = '1'
	end
	redis.call('ZREM', P .. 'offers', cid)
	redis.call('ZADD', wait_key(c.q, c.ch), wait_score(c), cid)
	if c.ov and c.ov ~= '' then
		redis.call('ZADD', P .. 'q:' .. c.ov .. ':o', wait_score(c), cid)
	end
end

local function release_load(aid, cid, ch)
	if not aid or aid == '' then
		return
	end
	if redis.call('SREM', P .. 'a:' .. aid .. ':c', cid) == 1 then
		local left = redis.call('HINCRBY', P .. 'a:' .. aid, 'load:' .. ch,
		    -1)
		if left < 0 then
			redis.call('HSET', P .. 'a:' .. aid, 'load:' .. ch, 0)
		end
	end
	refresh_advisor(aid)
end

-- The advisor left 'available' (for status st): their open offers end at
-- once ('withdrawn'; not a refusal) and go to the next advisor.
local function withdraw_offers(aid, st, now, events)
	local touched, order = {}, {}
	for _, cid in ipairs(redis.call('SMEMBERS', P .. 'a:' .. aid .. ':c')) do
		local c = hgetall(P .. 'c:' .. cid)
		if c.st == 'offered' and c.adv == aid then
			local v = bump_version(cid)
			back_to_queue(cid, c, now, false)
			release_load(aid, cid, c.ch)
			events[#events + 1] = {'withdrawn', cid, aid, inst_of(aid), v,
			    c.q, c.ch, st}
			if not touched[c.q] then
				touched[c.q] = true
				order[#order + 1] = c.q
			end
		end
	end
	table.sort(order)
	for _, q in ipairs(order) do
		dispatch_queue(q, now, events, 64)
	end
end

-- Ends an offer that was refused or not answered in time.
local function end_offer(cid, c, aid, kind, now, events)
	local v = bump_version(cid)
	back_to_queue(cid, c, now, false)
	refuse(cid, c, aid, now)
	release_load(aid, cid, c.ch)
	events[#events + 1] = {kind, cid, aid, inst_of(aid), v, c.q, c.ch}
	if kind == 'timed_out' then
		local missed = redis.call('HINCRBY', P .. 'a:' .. aid, 'miss', 1)
		local limit = num(redis.call('HGET', P .. 'cfg', 'max_missed'), 3)
		if limit > 0 and missed >= limit and
		    redis.call('HGET', P .. 'a:' .. aid, 'st') == 'available' then
			redis.call('HSET', P .. 'a:' .. aid, 'st', 'away', 'reason',
			    'missed_offers')
			refresh_advisor(aid)
			events[#events + 1] = {'status', '', aid, inst_of(aid),
			    next_version(), 'away', 'missed_offers'}
			-- Away: their other open offers go to the next advisor.
			withdraw_offers(aid, 'away', now, events)
		end
	end
	dispatch_queue(c.q, now, events, 64)
	dispatch_advisor_queues(aid, now, events)
end

-- A conversation leaves routing (closed, wrapped up, abandoned): the
-- advisor's capacity frees and their queues' waiting work is offered.
local function release_conv(cid, c, why, now, events)
	local v = bump_version(cid)
	unqueue(c.q, cid)
	redis.call('ZREM', P .. 'offers', cid)
	redis.call('ZREM', P .. 'acw', cid)
	redis.call('ZREM', P .. 'cool', cid)
	redis.call('DEL', P .. 'c:' .. cid, P .. 'c:' .. cid .. ':refused')
	events[#events + 1] = {'released', cid, c.adv or '', inst_of(c.adv or ''),
	    v, c.q, c.ch, why, c.st}
	if c.adv and c.adv ~= '' then
		release_load(c.adv, cid, c.ch)
		dispatch_advisor_queues(c.adv, now, events)
	end
end

-- The wrap-up time of an ended conversation is over: the advisor's
-- capacity frees. The conversation stays theirs in PostgreSQL (wrap_up)
-- until they wrap it up; routing forgets it.
local function acw_free(cid, c, now, events)
	local v = bump_version(cid)
	redis.call('ZREM', P .. 'acw', cid)
	redis.call('DEL', P .. 'c:' .. cid, P .. 'c:' .. cid .. ':refused')
	events[#events + 1] = {'acw_expired', cid, c.adv, inst_of(c.adv), v, c.q,
	    c.ch}
	release_load(c.adv, cid, c.ch)
	dispatch_advisor_queues(c.adv, now, events)
end

-- The advisor's desk is gone for good (grace period over, or logout):
-- their conversations on the live channels go back to the front of their
-- queues with their original wait time; the rest stay theirs.
local function requeue_advisor(aid, live_channels, now, events)
	local live = ',' .. (live_channels or 'chat') .. ','
	redis.call('HSET', P .. 'a:' .. aid, 'st', 'offline', 'reason',
	    'disconnected')
	redis.call('ZREM', P .. 'presence', aid)
	local convs = redis.call('SMEMBERS', P .. 'a:' .. aid .. ':c')
	local touched = {}
	for _, cid in ipairs(convs) do
		local c = hgetall(P .. 'c:' .. cid)
		if c.st == 'offered' or (c.st == 'assigned' and
		    string.find(live, ',' .. c.ch .. ',', 1, true)) then
			local v = bump_version(cid)
			back_to_queue(cid, c, now, true)
			release_load(aid, cid, c.ch)
			events[#events + 1] = {'requeued', cid, aid, inst_of(aid), v,
			    c.q, c.ch}
			touched[c.q] = true
		elseif not c.st then
			redis.call('SREM', P .. 'a:' .. aid .. ':c', cid)
		end
	end
	refresh_advisor(aid)
	events[#events + 1] = {'status', '', aid, inst_of(aid),
	    next_version(), 'offline', 'disconnected'}
	for q, _ in pairs(touched) do
		dispatch_queue(q, now, events, 64)
	end
end
