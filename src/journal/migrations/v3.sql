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
