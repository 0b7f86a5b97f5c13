-- 0034: a mailbox's own acknowledgement text (issue 15, "Acknowledgement
-- per mailbox (a template with the reference ...)"; docs/email.md,
-- "Acknowledgements").
--
-- The hook data may carry ack_template: the council's text, from the
-- mailbox's acknowledgement_file, in which {reference} and {name} are
-- replaced by the conversation's reference and the mailbox's name. Without
-- one the text is sb_email_ack_text's, as before. The template is the
-- council's own (a file on the server): nothing the sender wrote is put in
-- it. Otherwise as 0027.

CREATE OR REPLACE FUNCTION sb_email_imported(p_result jsonb, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	mbox text := p_data->>'mailbox';
	uv bigint := (p_data->>'uidvalidity')::bigint;
	u bigint := (p_data->>'uid')::bigint;
	ref text := p_result->>'reference';
	subj text := left(regexp_replace(coalesce(p_data->>'subject', ''), '[[:cntrl:]]', ' ', 'g'),
	                  200);
	body text;
	cur bigint;
	ack text := 'not_asked';
BEGIN
	INSERT INTO email_messages (mailbox, uidvalidity, uid, kind, message_id,
	                            rfc_message_id, raw_sha256, raw, parse_flags)
	VALUES (mbox, uv, u, 'message', (p_result->>'seq')::bigint, p_data->>'message_id',
	        decode(p_data->>'sha256', 'hex'), decode(p_data->>'raw', 'base64'),
	        coalesce((p_data->>'flags')::integer, 0))
	ON CONFLICT (mailbox, uidvalidity, uid) DO NOTHING;
	cur := sb_email_advance(mbox, uv, (p_data->>'prev_uid')::bigint, u);
	IF coalesce((p_data->>'ack')::boolean, false) THEN
		IF (p_result->>'repeated')::boolean OR p_result->>'opened' IS DISTINCT FROM 'new' THEN
			ack := 'not_new';
		ELSE
			ack := coalesce(sb_email_ack_allowed(mbox, p_data->>'from'), 'queued');
		END IF;
	END IF;
	IF ack = 'queued' THEN
		body := CASE WHEN coalesce(p_data->>'ack_template', '') <> ''
		             THEN replace(replace(p_data->>'ack_template', '{reference}', ref),
		                          '{name}', coalesce(nullif(p_data->>'ack_name', ''), 'us'))
		             ELSE sb_email_ack_text(ref, p_data->>'ack_name') END;
		INSERT INTO outbox (conversation_id, message_id, channel, destination, payload,
		                    dedupe_key)
		VALUES ((p_result->>'conversation_id')::bigint, (p_result->>'seq')::bigint, 'email',
		        lower(p_data->>'from'),
		        jsonb_build_object(
		          'kind', 'email.ack', 'mailbox', mbox, 'reference', ref,
		          'subject', CASE WHEN subj ~* '^re:' THEN subj ELSE 'Re: ' || subj END
		                     || ' [' || ref || ']',
		          'text', body,
		          'in_reply_to', p_data->>'message_id',
		          'auto_submitted', 'auto-replied', 'envelope_from', ''),
		        'email.ack:' || mbox || ':' || uv || ':' || u)
		ON CONFLICT (dedupe_key) DO NOTHING;
	END IF;
	RETURN jsonb_build_object('last_uid', cur, 'ack', ack);
END;
$$;
