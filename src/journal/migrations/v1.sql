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
