-- People's judgements of findings (the web console's triage: acknowledged,
-- expected, or reopened), with who and when. Every judgement is kept; the
-- latest of a finding is the one that holds. Not tied to the findings
-- table by a key: the fleet rules' findings are judged the same way.
CREATE TABLE finding_triage (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  host_id     TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
  finding_id  TEXT NOT NULL,
  state       TEXT NOT NULL,
  comment     TEXT NOT NULL DEFAULT '',
  by_token    TEXT NOT NULL,
  at          INTEGER NOT NULL,
  occurrence  INTEGER NOT NULL
);
CREATE INDEX finding_triage_finding ON finding_triage(host_id, finding_id, seq);
