-- expand, step 1 of 2: applies cleanly.
ALTER TABLE orders ADD COLUMN priority integer;
UPDATE orders SET priority = 1;
