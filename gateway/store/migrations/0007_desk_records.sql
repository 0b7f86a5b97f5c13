-- 0007_desk_records: what the desk's customer search reads (docs/api.md).
--
-- Customers are found by the start of their name, case-insensitively:
-- lower(display_name) LIKE 'prefix%' uses this index (text_pattern_ops
-- compares bytes, so it serves LIKE whatever the database's collation).
CREATE INDEX customers_name_prefix_idx ON customers (lower(display_name) text_pattern_ops, id);
