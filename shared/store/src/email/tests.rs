//! Unsubscribe tokens, message building, senders and the errors of sending.

#![allow(clippy::unwrap_used)]

use std::error::Error;

use super::*;

#[test]
fn unsubscribe_tokens_verify_only_unaltered() {
    let key = UnsubscribeKey::new(SecretString::from("k".repeat(32)));
    let token = key.sign("c_123");
    assert_eq!(key.verify(&token).as_deref(), Some("c_123"));
    let other = UnsubscribeKey::new(SecretString::from("j".repeat(32)));
    assert_eq!(other.verify(&token), None);
    let (id, tag) = token.split_once('.').unwrap();
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("c_124"));
    assert_eq!(key.verify(&forged), None);
    assert_eq!(key.verify(&format!("{id}.")), None);
    assert_eq!(key.verify(&format!("{id}.{}", &tag[..4])), None);
    assert_eq!(key.verify("garbage"), None);
    assert!(
        key.url("http://h:1/", "c_123")
            .starts_with("http://h:1/unsubscribe/")
    );
}

#[test]
fn messages_carry_one_click_unsubscribe_headers() {
    let rendered = Rendered {
        subject: "S".into(),
        html: "<p>h</p>".into(),
        text: "t".into(),
    };
    let message = build(&Outgoing {
        from: "Inlet <inlet@example.com>".parse().unwrap(),
        to: "ada@example.com",
        rendered: &rendered,
        unsubscribe_url: "http://h/unsubscribe/tok",
        message_id: "<em_1@inlet>".into(),
    })
    .unwrap();
    let raw = String::from_utf8(message.formatted()).unwrap();
    assert!(
        raw.contains("List-Unsubscribe: <http://h/unsubscribe/tok>"),
        "{raw}"
    );
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(raw.contains("Message-ID: <em_1@inlet>"));
    assert!(
        build(&Outgoing {
            from: "inlet@example.com".parse().unwrap(),
            to: "not an address",
            rendered: &rendered,
            unsubscribe_url: "u",
            message_id: "<x@y>".into(),
        })
        .is_err_and(|e| !e.is_transient())
    );
}

#[test]
fn senders_with_line_breaks_are_errors_not_panics() {
    assert!(sender(Some("Acme Support"), "help@acme.test").is_ok());
    assert!(sender(Some("Ünïcode, \"quoted\""), "help@acme.test").is_ok());
    for name in ["Acme\r\nBcc: victim@example.com", "A\nB", "A\rB"] {
        let err = sender(Some(name), "help@acme.test").unwrap_err();
        assert_eq!(err.field(), "fromName", "{name:?}");
    }
    let err = sender(Some("Acme"), "not an address").unwrap_err();
    assert_eq!(err.field(), "fromEmail");

    // A mailbox built elsewhere (an old template, `INLET_EMAIL_FROM`) fails the message,
    // permanently, where lettre would panic writing the From header.
    let rendered = Rendered {
        subject: "S".into(),
        html: "<p>h</p>".into(),
        text: "t".into(),
    };
    let from = Mailbox::new(
        Some("Acme\r\nBcc: victim@example.com".into()),
        "help@acme.test".parse().unwrap(),
    );
    let err = build(&Outgoing {
        from,
        to: "ada@example.com",
        rendered: &rendered,
        unsubscribe_url: "u",
        message_id: "<x@y>".into(),
    })
    .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "the sender's name cannot be written in an email header (it has a line break)"
    );
}

#[test]
fn the_default_sender_is_parsed_from_its_setting() {
    let config = |from: Option<&str>| {
        let vars = from.map(|v| ("INLET_EMAIL_FROM".to_owned(), v.to_owned()));
        Config::from_vars(vars).unwrap()
    };
    let default = default_sender(&config(None)).unwrap();
    assert_eq!(default.name.as_deref(), Some("Inlet"));
    assert_eq!(default.email.to_string(), "inlet@localhost");
    let set = default_sender(&config(Some("Acme <hello@acme.test>"))).unwrap();
    assert_eq!(set.to_string(), "Acme <hello@acme.test>");
    // A name with a line break (which lettre would panic writing) does not parse.
    for bad in ["\"Acme\r\n Support\" <help@acme.test>", "not an address"] {
        let err = default_sender(&config(Some(bad))).unwrap_err();
        assert_eq!(err.name, "INLET_EMAIL_FROM", "{bad:?}");
    }
}

/// The errors below `error`, outermost first.
fn chain<'a>(error: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    std::iter::successors(error.source(), |&e| e.source()).collect()
}

#[tokio::test]
async fn send_errors_keep_their_cause_and_classification() {
    let rendered = Rendered {
        subject: "S".into(),
        html: "<p>h</p>".into(),
        text: "t".into(),
    };
    let outgoing = |to| Outgoing {
        from: "inlet@example.com".parse().unwrap(),
        to,
        rendered: &rendered,
        unsubscribe_url: "u",
        message_id: "<x@y>".into(),
    };
    let err = build(&outgoing("not an address")).unwrap_err();
    assert!(matches!(err, SendError::Recipient(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .starts_with("recipient address is not usable: ")
    );
    assert!(
        chain(&err)
            .iter()
            .any(|e| e.is::<lettre::address::AddressError>())
    );

    // Nothing listens on port 1: the connection is refused, which is worth retrying.
    let url = SecretString::from("smtp://127.0.0.1:1");
    let smtp = Mailer::new(Some(&url), std::env::temp_dir()).unwrap();
    let err = smtp
        .send(build(&outgoing("ada@example.com")).unwrap())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().starts_with("SMTP: "), "{err}");
    assert!(
        chain(&err)
            .iter()
            .any(|e| e.is::<lettre::transport::smtp::Error>())
    );

    // An outbox folder removed under the mailer: the write fails, transiently.
    let dir = std::env::temp_dir().join(format!("inlet-outbox-{}", uuid::Uuid::new_v4()));
    let outbox = Mailer::new(None, dir.clone()).unwrap();
    std::fs::remove_dir(&dir).unwrap();
    let err = outbox
        .send(build(&outgoing("ada@example.com")).unwrap())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().starts_with("outbox: "), "{err}");
    assert!(
        chain(&err)
            .iter()
            .any(|e| e.is::<lettre::transport::file::Error>())
    );

    // Only a busy renderer is worth retrying; a template that fails would fail again.
    let busy = SendError::from(RenderError::Busy(Duration::from_secs(1)));
    assert!(busy.is_transient());
    assert!(!SendError::TemplateGone("tpl_1".into()).is_transient());
}
