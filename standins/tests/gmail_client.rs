//! Fidelity of the Gmail stand-in, proven with the real `google-gmail1` 7 client: if the crate
//! can decode every answer (string ids, padded base64url, absent `messages`) the fake's wire
//! format matches what the product will see from Google.

use google_gmail1::api::{ModifyMessageRequest, Scope};
use google_gmail1::{Error, Gmail, hyper_rustls, hyper_util};
use standins::{Fault, Service, Standins};

type Conn = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

const GERRIT_MAIL: &str = "From: Gerrit <noreply-gerritcodereview@google.com>\r\n\
To: bionicbb@example.com\r\n\
Subject: Change in platform/bionic[main]: Fix the frobnicator\r\n\
Content-Type: multipart/alternative; boundary=\"00000000000011aa\"\r\n\
\r\n\
--00000000000011aa\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Uploaded patch set 1.\r\n\
\r\n\
Gerrit-MessageType: newchange\r\n\
Gerrit-Change-Id: I0123456789abcdef0123456789abcdef01234567\r\n\
Gerrit-PatchSet: 1\r\n\
Gerrit-Project: platform/bionic\r\n\
Gerrit-Branch: main\r\n\
--00000000000011aa\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\
\r\n\
<p>Uploaded patch set 1.</p>\r\n\
--00000000000011aa--\r\n";

fn mail(n: usize, subject: &str) -> Vec<u8> {
    GERRIT_MAIL
        .replace("Fix the frobnicator", &format!("{subject} {n}"))
        .into_bytes()
}

fn hub(s: &Standins, token: String) -> Gmail<Conn> {
    // reqwest enables aws-lc-rs and gmail1 ring: pick one, or rustls panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .expect("native roots")
        .https_or_http()
        // hyper-rustls' `http1` feature is not on in this crate's graph; ALPN does not matter
        // for plain http, where the client speaks HTTP/1.1.
        .enable_http2()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let mut hub = Gmail::new(client, token);
    hub.base_url(s.gmail_url.clone());
    hub
}

fn error_code(e: &Error) -> Option<i64> {
    match e {
        Error::BadRequest(v) => v["error"]["code"].as_i64(),
        _ => None,
    }
}

#[tokio::test]
async fn labels_list_shows_system_and_user_labels() {
    let s = Standins::start().await;
    let gerrit = s.world.gmail_label("gerrit");
    let hub = hub(&s, s.world.gmail_tokens().access_token);
    let (_, labels) = hub
        .users()
        .labels_list("me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("labels.list");
    let labels = labels.labels.expect("labels");
    let user = labels
        .iter()
        .find(|l| l.name.as_deref() == Some("gerrit"))
        .expect("gerrit label");
    assert_eq!(user.id.as_deref(), Some(gerrit.as_str()));
    assert!(gerrit.starts_with("Label_"));
    assert_eq!(user.type_.as_deref(), Some("user"));
    let trash = labels
        .iter()
        .find(|l| l.id.as_deref() == Some("TRASH"))
        .expect("TRASH");
    assert_eq!(trash.type_.as_deref(), Some("system"));
}

#[tokio::test]
async fn messages_list_pages_with_the_label_filter_on_every_page() {
    let s = Standins::start().await;
    let w = &s.world;
    let mut gerrit_ids = Vec::new();
    for n in 0..3 {
        gerrit_ids.push(w.gmail_deliver(&mail(n, "change"), &["INBOX", "gerrit"]));
        w.gmail_deliver(
            b"From: someone@example.com\r\nSubject: hi\r\n\r\nhello\r\n",
            &["INBOX"],
        );
    }
    let label = w.gmail_label("gerrit");
    let hub = hub(&s, w.gmail_tokens().access_token);

    let mut listed = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut call = hub
            .users()
            .messages_list("me")
            .add_label_ids(&label)
            .max_results(2)
            .add_scope(Scope::Modify);
        if let Some(t) = page.as_deref() {
            call = call.page_token(t);
        }
        let (_, resp) = call.doit().await.expect("messages.list");
        pages += 1;
        listed.extend(
            resp.messages
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.id),
        );
        assert_eq!(resp.result_size_estimate, Some(3));
        match resp.next_page_token {
            Some(t) => page = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    // Gmail lists newest first.
    let newest_first: Vec<String> = gerrit_ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);

    let lists: Vec<_> = w
        .gmail_requests()
        .into_iter()
        .filter(|r| r.path == "/gmail/v1/users/me/messages")
        .collect();
    assert_eq!(lists.len(), 2);
    for r in &lists {
        assert!(
            r.query.contains(&format!("labelIds={label}")),
            "{}",
            r.query
        );
        assert!(r.query.contains("alt=json"), "{}", r.query);
    }
    assert!(lists[1].query.contains("pageToken="));

    // The 2015 bot's bug: page 2 without labelIds is not filtered.
    let (_, first) = hub
        .users()
        .messages_list("me")
        .add_label_ids(&label)
        .max_results(2)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("page 1");
    let token = first.next_page_token.expect("token");
    let (_, unfiltered) = hub
        .users()
        .messages_list("me")
        .page_token(&token)
        .max_results(10)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("page 2");
    assert!(unfiltered.messages.expect("messages").len() > 1);
}

#[tokio::test]
async fn empty_list_has_no_messages_key() {
    let s = Standins::start().await;
    let label = s.world.gmail_label("gerrit");
    let hub = hub(&s, s.world.gmail_tokens().access_token);
    let (_, resp) = hub
        .users()
        .messages_list("me")
        .add_label_ids(&label)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("messages.list");
    assert!(resp.messages.is_none());
    assert_eq!(resp.result_size_estimate, Some(0));
    assert!(resp.next_page_token.is_none());
}

#[tokio::test]
async fn messages_get_raw_and_full() {
    let s = Standins::start().await;
    let raw = mail(1, "change");
    let id = s.world.gmail_deliver(&raw, &["INBOX", "UNREAD", "gerrit"]);
    let hub = hub(&s, s.world.gmail_tokens().access_token);

    let (_, m) = hub
        .users()
        .messages_get("me", &id)
        .format("raw")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("get raw");
    assert_eq!(m.raw.as_deref(), Some(raw.as_slice()));
    assert!(m.history_id.is_some());
    assert!(m.internal_date.is_some());
    assert_eq!(m.id.as_deref(), Some(id.as_str()));

    let (_, m) = hub
        .users()
        .messages_get("me", &id)
        .format("full")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("get full");
    let payload = m.payload.expect("payload");
    assert_eq!(payload.mime_type.as_deref(), Some("multipart/alternative"));
    assert!(payload.body.expect("body").data.is_none());
    let subject = payload
        .headers
        .expect("headers")
        .into_iter()
        .find(|h| h.name.as_deref() == Some("Subject"))
        .and_then(|h| h.value);
    assert_eq!(
        subject.as_deref(),
        Some("Change in platform/bionic[main]: change 1")
    );
    let parts = payload.parts.expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].mime_type.as_deref(), Some("text/plain"));
    let text = parts[0]
        .body
        .as_ref()
        .and_then(|b| b.data.clone())
        .expect("text data");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(text.starts_with("Uploaded patch set 1.\r\n"));
    assert!(text.contains("Gerrit-MessageType: newchange\r\n"));
    assert!(
        m.snippet
            .expect("snippet")
            .starts_with("Uploaded patch set 1.")
    );
    assert_eq!(m.label_ids.map(|l| l.len()), Some(3));
}

#[tokio::test]
async fn trash_and_modify_change_labels() {
    let s = Standins::start().await;
    let w = &s.world;
    let keep = w.gmail_deliver(&mail(1, "keep"), &["INBOX", "gerrit"]);
    let gone = w.gmail_deliver(&mail(2, "gone"), &["INBOX", "gerrit"]);
    let gerrit = w.gmail_label("gerrit");
    let ignored = w.gmail_label("gerrit-ignored");
    let hub = hub(&s, w.gmail_tokens().access_token);

    let (_, m) = hub
        .users()
        .messages_trash("me", &gone)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("trash");
    assert!(m.label_ids.expect("labels").contains(&"TRASH".to_owned()));
    assert!(w.gmail_message(&gone).expect("message").trashed);

    let request = ModifyMessageRequest {
        add_label_ids: Some(vec![ignored.clone()]),
        remove_label_ids: Some(vec![gerrit.clone()]),
    };
    let (_, m) = hub
        .users()
        .messages_modify(request, "me", &keep)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("modify");
    let labels = m.label_ids.expect("labels");
    assert!(labels.contains(&ignored) && !labels.contains(&gerrit));
    let view = w.gmail_message(&keep).expect("message");
    assert_eq!(view.label_names, vec!["INBOX", "gerrit-ignored"]);

    // Trashed and relabelled mail is gone from the gerrit list.
    let (_, resp) = hub
        .users()
        .messages_list("me")
        .add_label_ids(&gerrit)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("list");
    assert!(resp.messages.is_none());
}

#[tokio::test]
async fn errors_use_googles_envelope() {
    let s = Standins::start().await;
    let hub = hub(&s, s.world.gmail_tokens().access_token);
    let err = hub
        .users()
        .messages_get("me", "18c4a2f0deadbeef")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect_err("missing message");
    assert_eq!(error_code(&err), Some(404));

    let bad = self::hub(&s, "not-a-token".into());
    let err = bad
        .users()
        .labels_list("me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect_err("bad token");
    assert_eq!(error_code(&err), Some(401));

    s.world.set_fault(
        Service::Gmail,
        Fault::FailNext {
            count: 1,
            status: 503,
        },
    );
    let err = hub
        .users()
        .labels_list("me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect_err("fault");
    assert_eq!(error_code(&err), Some(503));
    hub.users()
        .labels_list("me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("fault used up");
}

#[tokio::test]
async fn history_and_profile_report_string_ids() {
    let s = Standins::start().await;
    let hub = hub(&s, s.world.gmail_tokens().access_token);
    let (_, profile) = hub
        .users()
        .get_profile("me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("profile");
    let start = profile.history_id.expect("historyId");
    let id = s.world.gmail_deliver(&mail(1, "new"), &["gerrit"]);
    let (_, history) = hub
        .users()
        .history_list("me")
        .start_history_id(start)
        .add_history_types("messageAdded")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("history");
    let records = history.history.expect("records");
    let added = records[0].messages_added.as_ref().expect("added");
    assert_eq!(
        added[0].message.as_ref().and_then(|m| m.id.clone()),
        Some(id)
    );
    assert!(history.history_id.expect("current") > start);

    let err = hub
        .users()
        .history_list("me")
        .start_history_id(0)
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect_err("0 is invalid");
    assert_eq!(error_code(&err), Some(404));
}

#[tokio::test]
async fn labels_create_and_conflict() {
    let s = Standins::start().await;
    let hub = hub(&s, s.world.gmail_tokens().access_token);
    let request = google_gmail1::api::Label {
        name: Some("gerrit-ignored".into()),
        label_list_visibility: Some("labelShow".into()),
        message_list_visibility: Some("show".into()),
        ..Default::default()
    };
    let (_, created) = hub
        .users()
        .labels_create(request.clone(), "me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("labels.create");
    assert_eq!(created.id, Some(s.world.gmail_label("gerrit-ignored")));
    let err = hub
        .users()
        .labels_create(request, "me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect_err("duplicate");
    assert_eq!(error_code(&err), Some(409));
}

#[tokio::test]
async fn metadata_and_batch_modify() {
    let s = Standins::start().await;
    let w = &s.world;
    let a = w.gmail_deliver(&mail(1, "a"), &["gerrit"]);
    let b = w.gmail_deliver(&mail(2, "b"), &["gerrit"]);
    let hub = hub(&s, w.gmail_tokens().access_token);
    let (_, m) = hub
        .users()
        .messages_get("me", &a)
        .format("metadata")
        .add_metadata_headers("Subject")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("metadata");
    let headers = m.payload.and_then(|p| p.headers).expect("headers");
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].name.as_deref(), Some("Subject"));
    assert!(m.raw.is_none());

    let request = google_gmail1::api::BatchModifyMessagesRequest {
        ids: Some(vec![a.clone(), b.clone()]),
        add_label_ids: Some(vec!["TRASH".into()]),
        remove_label_ids: None,
    };
    let response = hub
        .users()
        .messages_batch_modify(request, "me")
        .add_scope(Scope::Modify)
        .doit()
        .await
        .expect("batchModify");
    assert_eq!(response.status().as_u16(), 204);
    assert!(w.gmail_messages().iter().all(|m| m.trashed));
}
