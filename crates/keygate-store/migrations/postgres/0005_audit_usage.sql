-- Audit trail and usage counters (issue 12).
--
-- audit_events is append-only and hash-chained: `hash` is the SHA-256 of
-- the event's canonical form (keygate_core::audit), which includes its id
-- and `prev_hash`, the hash of the event before it. An edited, deleted or
-- reordered row therefore breaks the chain at a row `keygate audit verify`
-- names. Events are appended under the revision row's lock, so the chain
-- stays linear with several writers. Events outlive what they describe:
-- no foreign keys. Ids are assigned by keygate (last id + 1, under the
-- lock), not by a sequence, so a rolled-back append leaves no gap.
CREATE TABLE audit_events (
    id BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    source TEXT,
    verb TEXT COLLATE "C" NOT NULL,
    target_kind TEXT COLLATE "C" NOT NULL,
    target_id TEXT COLLATE "C" NOT NULL,
    target_name TEXT COLLATE "C" NOT NULL DEFAULT '',
    changes TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target_kind, target_id);
CREATE INDEX audit_events_actor ON audit_events (actor);

-- The chain's head (last id and hash), written with every event, so that
-- cutting events off the end is detected too.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_id BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 0, '');

-- Calls per credential, action, hour and outcome ('allowed' or the reason
-- of a denial), added to in batches by the server; old hours are pruned.
CREATE TABLE usage_counts (
    credential_id BIGINT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
    hour BIGINT NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (credential_id, hour, action, outcome)
);
CREATE INDEX usage_counts_hour ON usage_counts (hour);
