-- Tokens get a public id (the first 6 bytes of the hash, in hex), a name,
-- an expiry, a revocation and when they were last used (0: never, for
-- each time). The table is rebuilt so that id is its key and the hash
-- stays unique.
CREATE TABLE tokens_new (
  id         TEXT PRIMARY KEY,
  hash       BLOB NOT NULL UNIQUE,
  name       TEXT NOT NULL DEFAULT '',
  role       TEXT NOT NULL,
  created    INTEGER NOT NULL,
  expires    INTEGER NOT NULL DEFAULT 0,
  revoked    INTEGER NOT NULL DEFAULT 0,
  last_used  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO tokens_new (id, hash, role, created)
  SELECT lower(hex(substr(hash, 1, 6))), hash, role, created FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
