CREATE INDEX intents_open_order ON intents (order_key, id)
    WHERE state IN ('pending', 'running');
CREATE INDEX intents_due_free ON intents (state, next_attempt, id) WHERE order_key IS NULL;
CREATE INDEX intents_pending_age ON intents (kind, created) WHERE state = 'pending';
