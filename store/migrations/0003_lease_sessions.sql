-- 0003: a lease records its holder's session key (store/lease-session.ts). The holder's session
-- holds an advisory lock on (class "dply", holder_key) for as long as its connection lives;
-- a competitor that can take that lock knows the holder's session is gone and may take the
-- lease before it expires. NULL: released, or taken before this migration.
ALTER TABLE leases ADD COLUMN holder_key integer;
