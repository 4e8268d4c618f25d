-- expand: applies cleanly; v4's verification suite then fails.
ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';
