-- What the fleet's outputs (webhooks, syslog) last sent, shared by the
-- replicas (collector/replica/outputs.go): one sends at a time, and the
-- next one to send starts from it. NULL until the first comparison.
CREATE TABLE output_state (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  body  BYTEA
);
