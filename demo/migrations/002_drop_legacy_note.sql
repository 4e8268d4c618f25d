-- contract (after the last batch passed): nothing reads legacy_note once every slot runs 2.0.0.
ALTER TABLE orders DROP COLUMN legacy_note;
