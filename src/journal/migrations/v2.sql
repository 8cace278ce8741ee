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
