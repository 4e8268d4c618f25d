-- expand: v2 reads a status per order; v1 ignores the new column.
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
CREATE INDEX orders_status ON orders (status);
