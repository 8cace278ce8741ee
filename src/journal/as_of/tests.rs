use rusqlite::params;

use super::super::*;

fn journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("s.db"), "test").unwrap();
    (dir, j)
}

/// A build triggered, queued, started and failed, then the vote: what the writers do.
async fn one_failed_build(j: &Journal) {
    j.note_change("platform/bionic", 9, "I9", "Fix it")
        .await
        .unwrap();
    j.write(|c| {
        c.execute(
            "INSERT INTO builds (intent_key, kind, change, patch_set, job, status, created)
             VALUES ('k', 'presubmit', 'platform/bionic~9', 2, 'bionic-presubmit', 'pending', 5)",
            [],
        )?;
        c.execute("UPDATE builds SET queue_id = 3 WHERE id = 1", [])?;
        c.execute(
            "UPDATE builds SET status = 'building', number = 4, url = 'job/b/4/', started = 6
             WHERE id = 1",
            [],
        )?;
        c.execute(
            "UPDATE builds SET status = 'failed', finished = 8 WHERE id = 1",
            [],
        )?;
        c.execute(
            "INSERT INTO votes (number, patch_set, vote, at) VALUES (9, 2, -1, ?1)",
            params![now_ms() + 60_000],
        )
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn each_status_event_shows_the_build_as_it_was_then() {
    let (_dir, j) = journal();
    one_failed_build(&j).await;
    let events: Vec<Event> = j
        .events_after(0, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == EventKind::Status)
        .collect();
    assert_eq!(events.len(), 3);
    let mut seen = Vec::new();
    for e in &events {
        let view = j.change_as_of(9, e.id, e.at).await.unwrap().unwrap();
        assert_eq!(view.key(), "platform/bionic~9");
        assert_eq!(view.subject.as_deref(), Some("Fix it"));
        assert_eq!(view.updated, e.at);
        assert_eq!(view.patch_sets.len(), 1);
        // The vote came after the result: no status change saw it.
        assert_eq!(view.patch_sets[0].vote, None);
        seen.push(view.patch_sets[0].builds.clone());
    }
    let b = |status, number, url: Option<&str>, started, finished| BuildView {
        job: "bionic-presubmit".into(),
        target: None,
        queue_id: (status != BuildStatus::Pending).then_some(3),
        number,
        status,
        url: url.map(String::from),
        started,
        finished,
    };
    assert_eq!(
        seen,
        [
            vec![b(BuildStatus::Pending, None, None, None, None)],
            vec![b(
                BuildStatus::Building,
                Some(4),
                Some("job/b/4/"),
                Some(6),
                None
            )],
            vec![b(
                BuildStatus::Failed,
                Some(4),
                Some("job/b/4/"),
                Some(6),
                Some(8)
            )],
        ]
    );
    // The last status change shows the build as the board shows it now.
    let (now, _) = j.change(None, 9).await.unwrap().unwrap();
    assert_eq!(now.patch_sets[0].builds, seen[2]);
    assert_eq!(now.patch_sets[0].vote, Some(-1));
}

#[tokio::test]
async fn a_later_build_is_absent_and_a_vote_cast_before_is_shown() {
    let (_dir, j) = journal();
    one_failed_build(&j).await;
    j.write(|c| {
        c.execute("UPDATE votes SET at = 0", [])?;
        c.execute(
            "INSERT INTO builds (intent_key, kind, change, patch_set, job, status, created)
             VALUES ('k2', 'presubmit', 'platform/bionic~9', 3, 'bionic-presubmit', 'pending', 9)",
            [],
        )
    })
    .await
    .unwrap();
    let status: Vec<Event> = j
        .events_after(0, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == EventKind::Status)
        .collect();
    let failed = &status[2];
    let view = j
        .change_as_of(9, failed.id, failed.at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.patch_sets.len(), 1, "{view:?}");
    assert_eq!(view.patch_sets[0].vote, Some(-1));
    let retry = &status[3];
    let view = j
        .change_as_of(9, retry.id, retry.at)
        .await
        .unwrap()
        .unwrap();
    let sets: Vec<(u32, usize, Option<i32>)> = view
        .patch_sets
        .iter()
        .map(|p| (p.number, p.builds.len(), p.vote))
        .collect();
    assert_eq!(sets, [(3, 1, None), (2, 1, Some(-1))]);
    assert!(
        j.change_as_of(10, retry.id, retry.at)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_build_recorded_before_migration_4_is_shown_as_it_is_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        migrations::run_to(&c, 3).unwrap();
        c.execute(
            "INSERT INTO builds (intent_key, kind, change, patch_set, job, status, number,
                                 created)
             VALUES ('k', 'presubmit', 'p/q~7', 1, 'j', 'pending', NULL, 1)",
            [],
        )
        .unwrap();
        c.execute(
            "UPDATE builds SET status = 'successful', number = 2 WHERE id = 1",
            [],
        )
        .unwrap();
    }
    let j = Journal::open(&path, "test").unwrap();
    let first = j.events_after(0, 1).await.unwrap().remove(0);
    let view = j
        .change_as_of(7, first.id, first.at)
        .await
        .unwrap()
        .unwrap();
    let builds = &view.patch_sets[0].builds;
    assert_eq!(builds.len(), 1);
    assert_eq!(
        (builds[0].status, builds[0].number),
        (BuildStatus::Successful, Some(2))
    );
}
