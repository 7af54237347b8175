-- The roster and org files of the fleet's policy, as the replica that
-- publishes it read them (collector/replicas.go): every replica uses
-- these, not its own --roster and --org.
ALTER TABLE policy ADD COLUMN files BYTEA;
