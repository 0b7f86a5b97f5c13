-- 0027: the email acknowledgement, queued with the message it answers
-- (issue 15; docs/email.md, "Acknowledgements").
--
-- sb_email_imported (0024) now also queues an acknowledgement when the
-- channel asks for one (hook data "ack": true, given only when the
-- parser's RFC 3834 rules allow an automatic reply), the mail opened a new
-- conversation (never for a reply into one, never for a repeat), and
-- sb_email_ack_allowed (0025) agrees. The outbox row is written in the
-- message's own transaction; its dedupe key is the mail's IMAP identity,
-- so a refetched mail is never acknowledged twice. Its text is ours alone
-- (never anything the sender wrote) and carries the reference, in the
-- subject too, where replies keep it (threading's first rule). The sender
-- sends it with Auto-Submitted: auto-replied and the empty envelope
-- sender. Extra hook data: ack (boolean), from (the sender's address,
-- normalised), subject (the mail's), ack_name (who the mailbox is, e.g.
-- "Denbighshire County Council"). The answer says what happened to it:
-- {"last_uid": N, "ack": "queued" | a refusal of sb_email_ack_allowed |
-- "not_asked" | "not_new"}.

CREATE FUNCTION sb_email_ack_text(p_reference text, p_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT 'Thank you for contacting ' || coalesce(nullif(p_name, ''), 'us') ||
	       '. We have received your email and given it the reference ' || p_reference ||
	       E'.\n\nPlease keep the reference in the subject line if you write to us about ' ||
	       'this again, so that your message reaches the same case.' ||
	       E'\n\nThis is an automatic acknowledgement: there is no need to reply to it.'
$$;

CREATE OR REPLACE FUNCTION sb_email_imported(p_result jsonb, p_data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
	mbox text := p_data->>'mailbox';
	uv bigint := (p_data->>'uidvalidity')::bigint;
	u bigint := (p_data->>'uid')::bigint;
	ref text := p_result->>'reference';
	subj text := left(regexp_replace(coalesce(p_data->>'subject', ''), '[[:cntrl:]]', ' ', 'g'),
	                  200);
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
		INSERT INTO outbox (conversation_id, message_id, channel, destination, payload,
		                    dedupe_key)
		VALUES ((p_result->>'conversation_id')::bigint, (p_result->>'seq')::bigint, 'email',
		        lower(p_data->>'from'),
		        jsonb_build_object(
		          'kind', 'email.ack', 'mailbox', mbox, 'reference', ref,
		          'subject', CASE WHEN subj ~* '^re:' THEN subj ELSE 'Re: ' || subj END
		                     || ' [' || ref || ']',
		          'text', sb_email_ack_text(ref, p_data->>'ack_name'),
		          'in_reply_to', p_data->>'message_id',
		          'auto_submitted', 'auto-replied', 'envelope_from', ''),
		        'email.ack:' || mbox || ':' || uv || ':' || u)
		ON CONFLICT (dedupe_key) DO NOTHING;
	END IF;
	RETURN jsonb_build_object('last_uid', cur, 'ack', ack);
END;
$$;
