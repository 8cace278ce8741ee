//! Numbered schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migration 1 is the schema the first release created without a version (`built`,
//! `triggered`, `answered`, `callbacks`, `outbox`), written with `IF NOT EXISTS` so that a new
//! file and a file from that release arrive at the same place. Later migrations move data
//! forward; they never assume an empty database. Each runs in its own `BEGIN IMMEDIATE`
//! transaction, so two processes starting at once migrate once.

use std::path::Path;

use rusqlite::Connection;

use super::JournalError;

/// The first release's tables, exactly as it created them.
const V1: &str = "
CREATE TABLE IF NOT EXISTS built (
    change_key TEXT NOT NULL,
    patch_set INTEGER NOT NULL,
    job TEXT NOT NULL,
    queue_id INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (change_key, patch_set, job)
);
CREATE TABLE IF NOT EXISTS triggered (
    queue_id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    change_key TEXT NOT NULL,
    patch_set INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answered (
    mail_key TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS callbacks (
    job TEXT NOT NULL,
    number INTEGER NOT NULL,
    phases TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    acted_phase TEXT,
    status TEXT,
    item INTEGER,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (job, number)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    change TEXT NOT NULL,
    revision TEXT NOT NULL,
    order_key TEXT NOT NULL,
    review TEXT,
    source TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    outcome TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
";

/// Intents, events, builds, mails and cursors; the first release's rows move into them
/// (its times were seconds in `built`/`triggered`/`answered`, milliseconds elsewhere).
const V2: &str = "
CREATE TABLE intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN
        ('trigger', 'review', 'drop_rejection', 'drop_request', 'mail_move', 'cancel', 'legacy')),
    change TEXT,
    patch_set INTEGER,
    order_key TEXT,
    payload TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'failed')),
    owner TEXT,
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    doubt INTEGER NOT NULL DEFAULT 0 CHECK (doubt IN (0, 1)),
    next_attempt INTEGER NOT NULL,
    last_error TEXT,
    outcome TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX intents_due ON intents (state, next_attempt);
CREATE INDEX intents_order ON intents (order_key, state, id);
CREATE INDEX intents_updated ON intents (updated);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN
        ('build', 'clean', 'check', 'reply', 'skip', 'aside', 'leave', 'error')),
    context TEXT NOT NULL,
    change TEXT,
    patch_set INTEGER,
    job TEXT,
    build INTEGER,
    status TEXT,
    text TEXT NOT NULL,
    process TEXT NOT NULL
);
CREATE INDEX events_change ON events (change, id);
CREATE INDEX events_at ON events (at);

CREATE TABLE builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_key TEXT UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('presubmit', 'clean')),
    change TEXT NOT NULL,
    patch_set INTEGER NOT NULL,
    job TEXT NOT NULL,
    target TEXT,
    queue_id INTEGER,
    number INTEGER,
    status TEXT CHECK (status IN ('pending', 'building', 'successful', 'failed', 'unstable',
        'aborted', 'cancelled', 'not_triggered')),
    url TEXT,
    created INTEGER NOT NULL,
    started INTEGER,
    finished INTEGER
);
CREATE INDEX builds_change ON builds (change, patch_set, job);
CREATE INDEX builds_queue ON builds (queue_id);
CREATE INDEX builds_job_number ON builds (job, number);

CREATE TABLE mails (
    gmail_id TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt INTEGER NOT NULL DEFAULT 0,
    intent_keys TEXT NOT NULL DEFAULT '[]',
    first_seen INTEGER NOT NULL,
    updated INTEGER NOT NULL
);

CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated INTEGER NOT NULL
);

INSERT INTO intents (key, kind, change, patch_set, payload, source, state, next_attempt,
                     created, updated)
    SELECT 'trigger:auto:' || change_key || ':' || patch_set || ':' || job, 'legacy', change_key,
           patch_set, '{}', 'migrated', 'done', at * 1000, at * 1000, at * 1000
    FROM built;
INSERT INTO builds (intent_key, kind, change, patch_set, job, queue_id, created)
    SELECT 'trigger:auto:' || change_key || ':' || patch_set || ':' || job, 'presubmit',
           change_key, patch_set, job, queue_id, at * 1000
    FROM built;
INSERT INTO builds (kind, change, patch_set, job, queue_id, created)
    SELECT 'clean', change_key, patch_set, job, queue_id, at * 1000 FROM triggered t
    WHERE NOT EXISTS (SELECT 1 FROM builds b WHERE b.queue_id = t.queue_id);
INSERT INTO intents (key, kind, payload, source, state, next_attempt, created, updated)
    SELECT 'mail:' || mail_key, 'legacy', '{}', 'migrated', 'done', at * 1000, at * 1000,
           at * 1000
    FROM answered;
INSERT INTO intents (key, kind, change, order_key, payload, source, state, attempts,
                     next_attempt, last_error, outcome, created, updated)
    SELECT 'outbox:' || id,
           CASE kind WHEN 'drop_rejection' THEN 'drop_rejection' ELSE 'review' END,
           change, order_key,
           json_object(
               'effect', CASE kind
                   WHEN 'drop_rejection' THEN
                       json_object('kind', 'drop_rejection', 'change', change, 'revision', revision)
                   ELSE json_object('kind', 'review', 'change', change, 'revision', revision,
                                    'review', json(review)) END,
               'context', 'gerrit',
               'done', json_object('kind', 'check', 'context', 'gerrit',
                   'text', source || ' => ' || replace(change, '%2F', '/') || ' patch set '
                           || revision || ': {outcome}')),
           source,
           CASE state WHEN 'pending' THEN 'pending' WHEN 'done' THEN 'done' ELSE 'failed' END,
           attempts, next_attempt, last_error, outcome, created, updated
    FROM outbox;
UPDATE callbacks SET item = (SELECT i.id FROM intents i WHERE i.key = 'outbox:' || callbacks.item)
    WHERE item IS NOT NULL;
DROP TABLE built;
DROP TABLE triggered;
DROP TABLE answered;
DROP TABLE outbox;
";

/// The views of SPEC §14: event kind `status` (a build's status changed, written by a trigger
/// on `builds` so that no writer, of either process, can change a build without the board
/// and the webhook hearing of it), `changes` and `votes` (summaries the board reads in one
/// indexed query), and `counters` (the Prometheus counters of both processes, kept by triggers
/// in the same transactions as what they count, and never pruned). SQLite cannot alter a CHECK
/// constraint, so `events` is rebuilt; its AUTOINCREMENT sequence is carried over, so an id
/// is never reused and an SSE client's `Last-Event-ID` stays meaningful.
const V3: &str = "
CREATE TABLE events_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN
        ('build', 'clean', 'check', 'reply', 'skip', 'aside', 'leave', 'error', 'status')),
    context TEXT NOT NULL,
    change TEXT,
    patch_set INTEGER,
    job TEXT,
    build INTEGER,
    status TEXT,
    text TEXT NOT NULL,
    process TEXT NOT NULL
);
INSERT INTO events_v3 SELECT id, at, kind, context, change, patch_set, job, build, status, text,
    process FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_v3';
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_v3', seq FROM sqlite_sequence
    WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;
CREATE INDEX events_change ON events (change, id);
CREATE INDEX events_at ON events (at);

CREATE TABLE changes (
    number INTEGER PRIMARY KEY,
    project TEXT,
    change_id TEXT,
    subject TEXT,
    updated INTEGER NOT NULL
);
CREATE INDEX changes_updated ON changes (updated);

CREATE TABLE votes (
    number INTEGER NOT NULL,
    patch_set INTEGER NOT NULL,
    vote INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (number, patch_set)
);

CREATE TABLE counters (
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    value INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (name, label)
);

-- A change's activity is its newest event; its project is known from any `project~number`.
CREATE TRIGGER events_change_activity AFTER INSERT ON events
WHEN NEW.change IS NOT NULL
     AND CAST(substr(NEW.change, instr(NEW.change, '~') + 1) AS INTEGER) > 0
BEGIN
    INSERT INTO changes (number, project, updated)
    VALUES (CAST(substr(NEW.change, instr(NEW.change, '~') + 1) AS INTEGER),
            CASE WHEN instr(NEW.change, '~') > 1 THEN
                replace(substr(NEW.change, 1, instr(NEW.change, '~') - 1), '%2F', '/') END,
            NEW.at)
    ON CONFLICT (number) DO UPDATE SET project = COALESCE(excluded.project, project),
        updated = max(updated, excluded.updated);
END;

CREATE TRIGGER events_count AFTER INSERT ON events
BEGIN
    INSERT INTO counters (name, label, value, updated) VALUES ('events', NEW.kind, 1, NEW.at)
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;

-- A build's status changed: one `status` event (pending included). The process is the one
-- that writes such a change: gmail-listener records triggers, build-listener callbacks.
CREATE TRIGGER builds_status_new AFTER INSERT ON builds
WHEN NEW.status IS NOT NULL
BEGIN
    INSERT INTO events (at, kind, context, change, patch_set, job, build, status, text, process)
    VALUES (NEW.created, 'status', NEW.kind, NEW.change, NEW.patch_set, NEW.job, NEW.number,
            NEW.status, NEW.job || COALESCE(' ' || NEW.target, '') || ': ' || NEW.status,
            'gmail-listener');
END;
CREATE TRIGGER builds_status_changed AFTER UPDATE OF status ON builds
WHEN NEW.status IS NOT OLD.status AND NEW.status IS NOT NULL
BEGIN
    INSERT INTO events (at, kind, context, change, patch_set, job, build, status, text, process)
    VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 'status', NEW.kind,
            NEW.change, NEW.patch_set, NEW.job, NEW.number, NEW.status,
            NEW.job || COALESCE(' ' || NEW.target, '') || COALESCE(' #' || NEW.number, '')
                || ': ' || NEW.status,
            CASE WHEN NEW.status = 'not_triggered' THEN 'gmail-listener'
                 ELSE 'build-listener' END);
END;

-- Outcomes of intents, counted once each time one reaches its end.
CREATE TRIGGER intents_outcome AFTER UPDATE OF state ON intents
WHEN NEW.state IN ('done', 'failed') AND OLD.state NOT IN ('done', 'failed')
BEGIN
    INSERT INTO counters (name, label, value, updated)
    SELECT 'mails', CASE WHEN NEW.state = 'failed' THEN 'move_failed'
                         WHEN json_extract(NEW.payload, '$.effect.set_aside') IS NULL
                         THEN 'trashed' ELSE 'set_aside' END, 1, NEW.updated
    WHERE NEW.kind = 'mail_move'
    UNION ALL
    SELECT 'builds_triggered', COALESCE(json_extract(NEW.payload, '$.effect.job'), ''), 1,
           NEW.updated
    WHERE NEW.kind = 'trigger' AND NEW.state = 'done'
    UNION ALL
    SELECT 'reviews', CASE WHEN NEW.state = 'done' THEN 'posted' ELSE 'failed' END, 1,
           NEW.updated
    WHERE NEW.kind = 'review'
    UNION ALL
    SELECT 'drop_rejections', CASE WHEN NEW.state = 'failed' THEN 'failed'
                                   WHEN NEW.outcome LIKE 'removed%' THEN 'removed'
                                   ELSE 'kept' END, 1, NEW.updated
    WHERE NEW.kind = 'drop_rejection'
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;

-- The bot's Verified vote per patch set: a posted review that carried the label, or a drop
-- that removed it.
CREATE TRIGGER intents_vote AFTER UPDATE OF state ON intents
WHEN NEW.state = 'done' AND OLD.state != 'done' AND NEW.patch_set IS NOT NULL
     AND NEW.change IS NOT NULL
     AND ((NEW.kind = 'review'
           AND json_extract(NEW.payload, '$.effect.review.labels.Verified') IS NOT NULL)
          OR (NEW.kind = 'drop_rejection' AND NEW.outcome LIKE 'removed%'))
BEGIN
    INSERT INTO votes (number, patch_set, vote, at)
    VALUES (CAST(substr(NEW.change, instr(NEW.change, '~') + 1) AS INTEGER), NEW.patch_set,
            CASE WHEN NEW.kind = 'review'
                 THEN json_extract(NEW.payload, '$.effect.review.labels.Verified') ELSE 0 END,
            NEW.updated)
    ON CONFLICT (number, patch_set) DO UPDATE SET vote = excluded.vote, at = excluded.at;
END;

-- A mail that failed is left for a later poll.
CREATE TRIGGER mails_failed AFTER INSERT ON mails
BEGIN
    INSERT INTO counters (name, label, value, updated) VALUES ('mails', 'left', 1, NEW.updated)
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;
CREATE TRIGGER mails_failed_again AFTER UPDATE OF attempts ON mails
WHEN NEW.attempts > OLD.attempts
BEGIN
    INSERT INTO counters (name, label, value, updated) VALUES ('mails', 'left', 1, NEW.updated)
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;

-- Callback phases: the first delivery of each phase of a build by its name, re-sends as
-- `repeated` (the row keeps the set of phases, not each delivery).
CREATE TRIGGER callbacks_first AFTER INSERT ON callbacks
BEGIN
    INSERT INTO counters (name, label, value, updated) VALUES ('callbacks', NEW.phases, 1,
        NEW.last_at)
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;
CREATE TRIGGER callbacks_more AFTER UPDATE OF deliveries ON callbacks
WHEN NEW.deliveries > OLD.deliveries
BEGIN
    INSERT INTO counters (name, label, value, updated)
    VALUES ('callbacks', CASE WHEN NEW.phases = OLD.phases THEN 'repeated'
                              ELSE substr(NEW.phases, length(OLD.phases) + 2) END, 1,
            NEW.last_at)
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;

INSERT INTO changes (number, project, updated)
    SELECT CAST(substr(change, instr(change, '~') + 1) AS INTEGER) AS n,
           max(CASE WHEN instr(change, '~') > 1 THEN
               replace(substr(change, 1, instr(change, '~') - 1), '%2F', '/') END),
           max(at)
    FROM events WHERE change IS NOT NULL AND n > 0 GROUP BY n;
INSERT INTO changes (number, project, updated)
    SELECT CAST(substr(change, instr(change, '~') + 1) AS INTEGER) AS n,
           max(replace(substr(change, 1, instr(change, '~') - 1), '%2F', '/')), max(created)
    FROM builds WHERE n > 0 AND instr(change, '~') > 1 GROUP BY n
    ON CONFLICT (number) DO UPDATE SET project = COALESCE(project, excluded.project);
";

/// Each `status` event also keeps the build as it was at that change (its `builds` row id,
/// target, queue id, link, start and finish times) and the bot's vote on its patch set then,
/// written by the same triggers in the same transaction: the webhook posts every status change
/// with the change as it was at that change, however late it reads the event (a build going
/// `pending`, `building`, `failed` within one tail of the feed would otherwise be posted three
/// times as `failed`). The columns are only added (no rewrite of `events`); rows written before
/// stay NULL there and are read as the build's current row.
const V4: &str = "
ALTER TABLE events ADD COLUMN build_id INTEGER;
ALTER TABLE events ADD COLUMN target TEXT;
ALTER TABLE events ADD COLUMN queue_id INTEGER;
ALTER TABLE events ADD COLUMN url TEXT;
ALTER TABLE events ADD COLUMN started INTEGER;
ALTER TABLE events ADD COLUMN finished INTEGER;
ALTER TABLE events ADD COLUMN vote INTEGER;

DROP TRIGGER builds_status_new;
DROP TRIGGER builds_status_changed;
CREATE TRIGGER builds_status_new AFTER INSERT ON builds
WHEN NEW.status IS NOT NULL
BEGIN
    INSERT INTO events (at, kind, context, change, patch_set, job, build, status, text, process,
                        build_id, target, queue_id, url, started, finished, vote)
    VALUES (NEW.created, 'status', NEW.kind, NEW.change, NEW.patch_set, NEW.job, NEW.number,
            NEW.status, NEW.job || COALESCE(' ' || NEW.target, '') || ': ' || NEW.status,
            'gmail-listener', NEW.id, NEW.target, NEW.queue_id, NEW.url, NEW.started,
            NEW.finished,
            (SELECT vote FROM votes WHERE patch_set = NEW.patch_set
               AND number = CAST(substr(NEW.change, instr(NEW.change, '~') + 1) AS INTEGER)));
END;
CREATE TRIGGER builds_status_changed AFTER UPDATE OF status ON builds
WHEN NEW.status IS NOT OLD.status AND NEW.status IS NOT NULL
BEGIN
    INSERT INTO events (at, kind, context, change, patch_set, job, build, status, text, process,
                        build_id, target, queue_id, url, started, finished, vote)
    VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 'status', NEW.kind,
            NEW.change, NEW.patch_set, NEW.job, NEW.number, NEW.status,
            NEW.job || COALESCE(' ' || NEW.target, '') || COALESCE(' #' || NEW.number, '')
                || ': ' || NEW.status,
            CASE WHEN NEW.status = 'not_triggered' THEN 'gmail-listener'
                 ELSE 'build-listener' END,
            NEW.id, NEW.target, NEW.queue_id, NEW.url, NEW.started, NEW.finished,
            (SELECT vote FROM votes WHERE patch_set = NEW.patch_set
               AND number = CAST(substr(NEW.change, instr(NEW.change, '~') + 1) AS INTEGER)));
END;
";

/// Indexes that keep the cost of a claim, and of the due time, independent of how many
/// intents wait (see [`super::claims`]): the open intents of each order key by id (the head of
/// each is one seek, whatever waits behind it), the intents of no order key by due time, and
/// pending intents by kind and age (giving up on stale reviews reads only those).
const V5: &str = "
CREATE INDEX intents_open_order ON intents (order_key, id)
    WHERE state IN ('pending', 'running');
CREATE INDEX intents_due_free ON intents (state, next_attempt, id) WHERE order_key IS NULL;
CREATE INDEX intents_pending_age ON intents (kind, created) WHERE state = 'pending';
";

/// Version 6: what a done intent did is kept in typed columns (`job`, `vote`, `moved_to`) that
/// the counters and the votes table read, instead of fields of the payload's JSON; the rows
/// of earlier releases get them once, here.
const V6: &str = "
ALTER TABLE intents ADD COLUMN job TEXT;
ALTER TABLE intents ADD COLUMN vote INTEGER;
ALTER TABLE intents ADD COLUMN moved_to TEXT CHECK (moved_to IN ('trash', 'set_aside'));
UPDATE intents SET job = json_extract(payload, '$.effect.job')
    WHERE kind = 'trigger' AND json_valid(payload);
UPDATE intents SET vote = json_extract(payload, '$.effect.review.labels.Verified')
    WHERE kind = 'review' AND state = 'done' AND json_valid(payload);
UPDATE intents SET vote = 0
    WHERE kind = 'drop_rejection' AND state = 'done' AND outcome LIKE 'removed%';
UPDATE intents SET moved_to = CASE WHEN json_extract(payload, '$.effect.set_aside') IS NULL
                                   THEN 'trash' ELSE 'set_aside' END
    WHERE kind = 'mail_move' AND state = 'done' AND json_valid(payload);

DROP TRIGGER intents_outcome;
CREATE TRIGGER intents_outcome AFTER UPDATE OF state ON intents
WHEN NEW.state IN ('done', 'failed') AND OLD.state NOT IN ('done', 'failed')
BEGIN
    INSERT INTO counters (name, label, value, updated)
    SELECT 'mails', CASE WHEN NEW.state = 'failed' THEN 'move_failed'
                         WHEN NEW.moved_to = 'set_aside' THEN 'set_aside'
                         ELSE 'trashed' END, 1, NEW.updated
    WHERE NEW.kind = 'mail_move'
    UNION ALL
    SELECT 'builds_triggered', COALESCE(NEW.job, ''), 1, NEW.updated
    WHERE NEW.kind = 'trigger' AND NEW.state = 'done'
    UNION ALL
    SELECT 'reviews', CASE WHEN NEW.state = 'done' THEN 'posted' ELSE 'failed' END, 1,
           NEW.updated
    WHERE NEW.kind = 'review'
    UNION ALL
    SELECT 'drop_rejections', CASE WHEN NEW.state = 'failed' THEN 'failed'
                                   WHEN NEW.vote = 0 THEN 'removed'
                                   ELSE 'kept' END, 1, NEW.updated
    WHERE NEW.kind = 'drop_rejection'
    ON CONFLICT (name, label) DO UPDATE SET value = value + 1, updated = excluded.updated;
END;

DROP TRIGGER intents_vote;
CREATE TRIGGER intents_vote AFTER UPDATE OF state ON intents
WHEN NEW.state = 'done' AND OLD.state != 'done' AND NEW.patch_set IS NOT NULL
     AND NEW.change IS NOT NULL AND NEW.vote IS NOT NULL
BEGIN
    INSERT INTO votes (number, patch_set, vote, at)
    VALUES (CAST(substr(NEW.change, instr(NEW.change, '~') + 1) AS INTEGER), NEW.patch_set,
            NEW.vote, NEW.updated)
    ON CONFLICT (number, patch_set) DO UPDATE SET vote = excluded.vote, at = excluded.at;
END;
";

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The schema version this release writes.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST_VERSION`], one migration per transaction.
pub(super) fn run(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > LATEST_VERSION {
            return Err(JournalError::TooNew {
                path: path.display().to_string(),
                found: version,
                known: LATEST_VERSION,
            });
        }
        if version == LATEST_VERSION {
            tx.commit()?;
            return Ok(());
        }
        let index = usize::try_from(version).unwrap_or(0);
        tx.execute_batch(MIGRATIONS[index])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(
            path = %path.display(),
            version = version + 1,
            "state database migrated"
        );
    }
}

#[cfg(test)]
pub(super) const FIRST_RELEASE_SCHEMA: &str = V1;

/// Applies the migrations up to `version` only: a database as an earlier release left it.
#[cfg(test)]
pub(super) fn run_to(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    for (i, m) in MIGRATIONS
        .iter()
        .enumerate()
        .take(usize::try_from(version).unwrap_or(0))
    {
        conn.execute_batch(m)?;
        conn.pragma_update(None, "user_version", i64::try_from(i).unwrap_or(0) + 1)?;
    }
    Ok(())
}
