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
