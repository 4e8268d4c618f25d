-- contract: nothing reads legacy_note once every host runs v2.
ALTER TABLE orders DROP COLUMN legacy_note;
