-- Audit lookups that stay quick at millions of events: `keygate audit
-- --target` matches the target's id or, ignoring case, its readable name;
-- `--actor` the actor ignoring case; `--since` the time. The filters are
-- put into the query only when given (see audit_sql.rs), so each can use
-- its index instead of scanning the trail; each index ends with the id, so
-- the newest page of a filter that matches most events (every event by
-- one actor) is read in order from the index, not sorted. The
-- (target_kind, target_id) and (actor) indexes of 0005 served no query and
-- go.
DROP INDEX audit_events_target;
DROP INDEX audit_events_actor;
CREATE INDEX audit_events_target_id ON audit_events (target_id, id);
CREATE INDEX audit_events_target_name_ci ON audit_events (LOWER(target_name), id);
CREATE INDEX audit_events_actor_ci ON audit_events (LOWER(actor), id);
CREATE INDEX audit_events_at ON audit_events (at);
