-- settings: queue settings, blending rules and router settings changed in
-- PostgreSQL (an administrator added a channel to a queue, say); every
-- instance re-reads them every few seconds and applies them here. Advisors'
-- ready sets follow, and work a new setting makes routable is offered.
-- ARGV: epoch, qc, blend, max_missed, grace_ms, live (as restore config),
--       changed ('1': apply them; '0': the same as last applied, so only
--       offer waiting work, a safety net that costs little)
local err = epoch_error(ARGV[1])
if err then
	return err
end
local events = {}
local now = now_ms()
if ARGV[7] ~= '0' then
	apply_settings(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
	for _, aid in ipairs(redis.call('SMEMBERS', P .. 'advisors')) do
		refresh_advisor(aid)
	end
end
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
	dispatch_queue(q, now, events, 64)
end
return emit(events)
