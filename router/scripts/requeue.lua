-- requeue: an advisor's desk has been gone longer than the grace period.
-- Their conversations on the live channels given go back to the front of
-- their queues with their original wait time; the rest stay theirs. The
-- advisor becomes offline.
-- ARGV: epoch, advisor, live channels "chat,voice" ("" for cfg live)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local live = ARGV[3]
if not live or live == '' then
	live = redis.call('HGET', P .. 'cfg', 'live') or 'chat,voice,visit'
end
local events = {}
requeue_advisor(ARGV[2], live, now_ms(), events)
return emit(events)
