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
