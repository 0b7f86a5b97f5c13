-- Switchboard schema 0011: routing that never strands a resident, and
-- after-contact work (issue 13, items 1 and 11).
--
-- refusal_cooldown_s: an advisor who rejected a conversation, or let its
-- offer time out, is not offered it again for this long, unless no other
-- eligible advisor exists (router/scripts/common.lua, pick_advisor).
-- wrap_up_s: after a conversation ends, its advisor's capacity stays held
-- this long (after-contact work), unless they wrap it up earlier; 0: not
-- held. Both are carried to Redis with the other queue settings.
ALTER TABLE queue_channels
	ADD COLUMN refusal_cooldown_s integer NOT NULL DEFAULT 60
		CHECK (refusal_cooldown_s BETWEEN 0 AND 3600),
	ADD COLUMN wrap_up_s integer NOT NULL DEFAULT 60
		CHECK (wrap_up_s BETWEEN 0 AND 3600);

-- chat.start (issue 13, item 8): whether anyone serves the queue is decided
-- by the router from live presence (router/scripts/served.lua: a member
-- whose desk is beating and who is not offline), not from the last status
-- row of each member, which a desk killed without signing out leaves
-- 'available' for ever. p_served: true (someone serves it), false (nobody:
-- answered unserved, leave a message), NULL (routing could not say: the
-- chat queues, a resident is never refused because Redis blinked). The
-- nine-parameter version of 0006 stays for a daemon of the previous
-- release during an upgrade.
CREATE FUNCTION sb_chat_start(p_queue text, p_name text, p_email text, p_mobile text,
	p_token bytea, p_client uuid, p_page_url text, p_page_title text, p_lifetime_s integer,
	p_served boolean,
	OUT conversation_id bigint, OUT reference text, OUT queue_id bigint,
	OUT queued_ms bigint, OUT match text, OUT repeated boolean, OUT unserved boolean)
LANGUAGE plpgsql AS $$
DECLARE
	q bigint;
	cust record;
BEGIN
	repeated := false;
	unserved := false;
	IF p_client IS NOT NULL THEN
		UPDATE chat_sessions s SET token_sha256 = p_token
		 WHERE s.start_client_id = p_client AND s.ended_at IS NULL
		 RETURNING s.conversation_id, s.customer_match INTO conversation_id, match;
		IF FOUND THEN
			SELECT c.reference, c.queue_id, (extract(epoch FROM c.queued_at) * 1000)::bigint
			  INTO reference, queue_id, queued_ms
			  FROM conversations c WHERE c.id = sb_chat_start.conversation_id;
			repeated := true;
			RETURN;
		END IF;
	END IF;
	SELECT qq.id INTO q FROM queues qq
	  JOIN queue_channels qc ON qc.queue_id = qq.id AND qc.channel = 'chat'
	 WHERE qq.active AND (qq.slug = p_queue OR qq.id::text = p_queue)
	 ORDER BY qq.id LIMIT 1;
	IF q IS NULL THEN
		RETURN;
	END IF;
	IF p_served IS FALSE THEN
		unserved := true;
		RETURN;
	END IF;
	SELECT * INTO cust FROM sb_chat_customer(p_name, p_email, p_mobile);
	match := cust.match;
	INSERT INTO conversations (customer_id, channel, queue_id, status, queued_at)
	VALUES (cust.customer_id, 'chat', q, 'waiting', now())
	RETURNING id, conversations.reference, conversations.queue_id,
	          (extract(epoch FROM queued_at) * 1000)::bigint
	     INTO conversation_id, reference, queue_id, queued_ms;
	INSERT INTO chat_sessions (conversation_id, token_sha256, start_client_id, customer_match,
	                           match_candidates, email, mobile, page_url, page_title, expires_at)
	VALUES (conversation_id, p_token, p_client, cust.match, cust.candidates, lower(p_email),
	        p_mobile, coalesce(p_page_url, ''), coalesce(p_page_title, ''),
	        now() + make_interval(secs => p_lifetime_s));
	INSERT INTO conversation_events (conversation_id, kind, queue_id, detail)
	VALUES (conversation_id, 'chat.started', q,
	        jsonb_build_object('match', cust.match, 'candidates', to_jsonb(cust.candidates),
	                           'page', coalesce(p_page_url, '')));
END;
$$;
