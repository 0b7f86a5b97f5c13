-- 0005_route_write_cost: makes recording a routing decision cheaper. Every
-- assignment appends three events (offered, accepted, released) and moves
-- its conversation twice; at thousands of assignments a second these rows
-- are the router's main cost in PostgreSQL (docs/router.md, Performance).

-- The history keeps the ids of the advisor and queue an event concerned.
-- Switchboard never deletes staff users (they are disabled) or queues, so
-- a foreign key would only add a row lock on each per appended event. The
-- conversation's key stays: erasing a conversation erases its history.
ALTER TABLE conversation_events
	DROP CONSTRAINT conversation_events_staff_id_fkey,
	DROP CONSTRAINT conversation_events_queue_id_fkey;

-- Reports select events by time: a BRIN index on the append-ordered `at`
-- costs next to nothing to maintain, where the b-tree on (kind, at)
-- cost an index entry per event.
DROP INDEX conversation_events_kind_at_idx;
CREATE INDEX conversation_events_at_brin ON conversation_events USING brin (at);

-- conversations_queue_live_idx (queue_id, status, queued_at, for every
-- conversation not closed) serves the rebuild's and the reconciler's reads
-- as well; a second index over the same rows cost one more entry per move.
DROP INDEX conversations_in_routing;

-- The touch trigger runs only when the new row leaves something to do:
-- closed_at out of step with status, or updated_at not set by the
-- statement. The routing statement sets both itself, and a PL/pgSQL call
-- per moved conversation is saved.
DROP TRIGGER conversations_touch ON conversations;
CREATE TRIGGER conversations_touch_insert BEFORE INSERT ON conversations
	FOR EACH ROW EXECUTE FUNCTION sb_conversations_touch();
CREATE TRIGGER conversations_touch BEFORE UPDATE ON conversations
	FOR EACH ROW
	WHEN ((NEW.status = 'closed') <> (NEW.closed_at IS NOT NULL)
		OR NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
	EXECUTE FUNCTION sb_conversations_touch();
