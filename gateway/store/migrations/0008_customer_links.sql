-- 0008_customer_links: two customer records an advisor thinks are one
-- person, linked for review (docs/api.md). Never a merge: both records
-- stay as they are until someone decides (a reversible merge comes later).
CREATE TABLE customer_links (
	id           bigserial   PRIMARY KEY,
	-- The pair in order (a < b): one link per pair.
	customer_a   bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
	customer_b   bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
	note         text        NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
	created_by   bigint      NULL REFERENCES staff_users (id),
	created_at   timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT customer_links_ordered CHECK (customer_a < customer_b),
	CONSTRAINT customer_links_pair_key UNIQUE (customer_a, customer_b)
);

CREATE INDEX customer_links_b_idx ON customer_links (customer_b);
