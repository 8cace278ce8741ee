use super::*;

#[test]
fn order_keys_name_the_change_number_when_the_id_has_one() {
    assert_eq!(order_key("123"), "change:123");
    assert_eq!(order_key("platform%2Fbionic~123"), "change:123");
    assert_eq!(order_key("p~main~I0123"), "change:p~main~I0123");
    assert_eq!(order_key("I0123"), "change:I0123");
}

#[test]
fn payloads_round_trip_through_the_journal_text() {
    let p = Payload {
        effect: Effect::Trigger {
            job: "bionic-presubmit".into(),
            params: [("REF".to_string(), "refs/changes/45/123445/3".to_string())].into(),
        },
        context: "newpatchset".into(),
        done: Some(NewEvent::new(
            crate::journal::EventKind::Build,
            "newpatchset",
            "x",
        )),
    };
    let planned = plan("k".into(), p.clone(), Some("p~1".into()), Some(3), "s");
    assert_eq!(planned.intent.kind, IntentKind::Trigger);
    assert_eq!(planned.intent.order_key, None);
    let back: Payload = serde_json::from_str(&planned.intent.payload).unwrap();
    assert_eq!(back, p);
    let review = plan(
        "r".into(),
        Payload {
            effect: Effect::DropRejection {
                change: "platform%2Fbionic~7".into(),
                revision: "2".into(),
            },
            context: "gerrit".into(),
            done: None,
        },
        None,
        None,
        "s",
    );
    assert_eq!(review.intent.order_key.as_deref(), Some("change:7"));
    let moved = plan(
        "m".into(),
        Payload {
            effect: Effect::MailMove {
                gmail_id: "1".into(),
                set_aside: None,
            },
            context: "mail".into(),
            done: None,
        },
        None,
        None,
        "s",
    );
    assert!(moved.repeatable);
}

#[test]
fn backoff_doubles_with_jitter_and_is_capped() {
    let b = Backoff {
        first: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };
    for _ in 0..50 {
        let d1 = b.delay(1);
        assert!(
            d1 >= Duration::from_secs(1) && d1 <= Duration::from_secs(2),
            "{d1:?}"
        );
        let d3 = b.delay(3);
        assert!(
            d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(8),
            "{d3:?}"
        );
        let d40 = b.delay(40);
        assert!(
            d40 >= Duration::from_secs(30) && d40 <= Duration::from_secs(60),
            "{d40:?}"
        );
    }
    assert_eq!(Backoff::NONE.delay(7), Duration::ZERO);
}
