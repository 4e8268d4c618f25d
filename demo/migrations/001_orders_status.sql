-- expand (before the first batch): 2.0.0 reads a status per order; 1.0.0 ignores the new column.
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';
