use rusqlite::params;

use super::super::*;

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("s.db"), "test").unwrap();
    (dir, j)
}

#[tokio::test]
async fn migration_3_keeps_event_ids_growing_after_the_newest_was_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        migrations::run_to(&c, 2).unwrap();
        for i in 0..5 {
            c.execute(
                "INSERT INTO events (at, kind, context, change, text, process)
                 VALUES (?1, 'build', 'newchange', 'platform%2Fbionic~7', 'x', 'gmail-listener')",
                params![i],
            )
            .unwrap();
        }
        c.execute("DELETE FROM events WHERE id > 3", []).unwrap();
    }
    let j = Journal::open(&path, "test").unwrap();
    let ids = j
        .append_events(vec![NewEvent::new(EventKind::Status, "presubmit", "y")])
        .await
        .unwrap();
    assert_eq!(ids, vec![6], "ids 4 and 5 were handed out before");
    let changes = j.changes(10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key(), "platform/bionic~7");
    assert_eq!(changes[0].updated, 2);
}

#[tokio::test]
async fn a_builds_status_change_is_an_event_and_the_change_shows_it() {
    let (_dir, j) = journal();
    j.write(|c| {
        c.execute(
            "INSERT INTO builds (intent_key, kind, change, patch_set, job, status, created)
             VALUES ('k', 'presubmit', 'platform/bionic~9', 2, 'bionic-presubmit', 'pending', 5)",
            [],
        )?;
        c.execute("UPDATE builds SET queue_id = 3 WHERE id = 1", [])?;
        c.execute(
            "UPDATE builds SET status = 'building', number = 4 WHERE id = 1",
            [],
        )?;
        c.execute("UPDATE builds SET status = 'building' WHERE id = 1", [])
    })
    .await
    .unwrap();
    let events = j.events_after(0, 10).await.unwrap();
    let statuses: Vec<_> = events
        .iter()
        .map(|e| (e.event.kind, e.event.status.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        statuses,
        [
            (EventKind::Status, "pending".to_string()),
            (EventKind::Status, "building".to_string())
        ]
    );
    assert_eq!(events[1].event.text, "bionic-presubmit #4: building");
    let (view, events) = j
        .change(Some("platform/bionic".into()), 9)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(view.patch_sets.len(), 1);
    assert_eq!(view.patch_sets[0].builds[0].status, BuildStatus::Building);
    assert_eq!(view.patch_sets[0].builds[0].number, Some(4));
    assert!(j.change(Some("other".into()), 9).await.unwrap().is_none());
    assert!(j.change(None, 10).await.unwrap().is_none());
}

#[tokio::test]
async fn outcomes_are_counted_and_votes_remembered() {
    let (_dir, j) = journal();
    j.write(|c| {
        let ins = "INSERT INTO intents (key, kind, change, patch_set, payload, next_attempt,
                   created, updated) VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0)";
        c.execute(
            ins,
            params![
                "r",
                "review",
                "9",
                2,
                r#"{"effect":{"kind":"review","review":{"labels":{"Verified":-1}}}}"#
            ],
        )?;
        c.execute(ins, params!["d", "drop_rejection", "p%2Fq~9", 2, "{}"])?;
        c.execute(
            ins,
            params![
                "t",
                "trigger",
                "p/q~9",
                2,
                r#"{"effect":{"kind":"trigger","job":"j","params":{"CHANGE_ID":"I9"}}}"#
            ],
        )?;
        c.execute(
            ins,
            params![
                "m",
                "mail_move",
                None::<String>,
                None::<u32>,
                r#"{"effect":{"kind":"mail_move","gmail_id":"1"}}"#
            ],
        )?;
        c.execute(
            // What each effect did is in the typed columns written with the state.
            "UPDATE intents SET state = 'done', updated = 7,
                vote = CASE key WHEN 'r' THEN -1 END, job = CASE key WHEN 't' THEN 'j' END,
                moved_to = CASE key WHEN 'm' THEN 'trash' END
             WHERE key IN ('r', 't', 'm')",
            [],
        )?;
        c.execute(
            "INSERT INTO changes (number, project, updated) VALUES (9, 'p/q', 1)",
            [],
        )
    })
    .await
    .unwrap();
    j.note_change("p/q", 9, "I9", "Fix it").await.unwrap();
    let view = j.changes(5).await.unwrap().remove(0);
    assert_eq!(view.patch_sets[0].vote, Some(-1));
    assert_eq!(view.change_id.as_deref(), Some("I9"));
    assert_eq!(view.subject.as_deref(), Some("Fix it"));
    j.write(|c| {
        c.execute(
            "UPDATE intents SET state = 'done', outcome = 'removed the bot''s Verified-1', vote = 0
             WHERE key = 'd'",
            [],
        )
    })
    .await
    .unwrap();
    let view = j.changes(5).await.unwrap().remove(0);
    assert_eq!(view.patch_sets[0].vote, Some(0));
    let counters: Vec<(String, String, u64)> = j
        .counters()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.label, c.value))
        .collect();
    assert_eq!(
        counters,
        [
            ("builds_triggered".into(), "j".into(), 1),
            ("drop_rejections".into(), "removed".into(), 1),
            ("mails".into(), "trashed".into(), 1),
            ("reviews".into(), "posted".into(), 1),
        ]
    );
}
