-- drain: entries of the event stream (sb:events) that no instance deleted
-- after recording them: their instance died between the decision and its
-- COMMIT, or PostgreSQL refused them. One instance at a time holds the
-- lease sb:drain; the others get nothing. Works in any epoch (the stream
-- outlives rebuilds; PostgreSQL fences entries of an old epoch).
-- ARGV: epoch (not checked), holder (the caller's tag), lease ms, age ms
--       (only entries older than this), count, start ('-', or '(' and the
--       last id of the previous batch of a pass)
-- Returns the entries as XRANGE does: {{id, {field, value, ...}}, ...}.
local holder = ARGV[2]
local cur = redis.call('GET', 'sb:drain')
if cur and cur ~= holder then
	return {}
end
redis.call('SET', 'sb:drain', holder, 'PX', num(ARGV[3], 5000))
local upto = now_ms() - num(ARGV[4], 5000)
if upto <= 0 then
	return {}
end
return redis.call('XRANGE', STREAM, ARGV[6] or '-',
    string.format('%.0f', upto),
    'COUNT', num(ARGV[5], 256))
