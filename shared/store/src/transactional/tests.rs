//! Data variables, revisions, attachments' checks (hand-picked and hostile), and a
//! transactional send started on both backends.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::db::entities::workflow_run;
use crate::test_db::TestDb;
use sea_orm::EntityTrait;

fn template(subject: &str, html: &str, text: Option<&str>) -> email_template::Model {
    email_template::Model {
        id: "tpl_1".into(),
        name: "t".into(),
        subject: subject.into(),
        html: html.into(),
        text: text.map(Into::into),
        from_name: None,
        from_email: None,
        created_at: 0,
        updated_at: 0,
    }
}

fn attachment(filename: &str, data: &str) -> Attachment {
    Attachment {
        filename: filename.into(),
        content_type: "application/pdf".into(),
        data: data.into(),
    }
}

#[test]
fn data_variables_are_what_the_parts_read_and_do_not_set() {
    let t = template(
        "Reset for {{ name }}",
        "<a href=\"{{ resetUrl }}\">x</a>{% for item in items %}{{ item.title }}{% endfor %}{% set local = 1 %}{{ local }}{% for i in range(2) %}{{ loop.index }}{% endfor %}",
        Some("{{ footer }}"),
    );
    assert_eq!(
        data_variables(&t).unwrap(),
        ["footer", "items", "name", "resetUrl"]
    );
    assert!(data_variables(&template("{{ oops", "", None)).is_err());
}

#[test]
fn missing_names_the_absent_and_null_but_not_the_empty() {
    let required = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let given = json!({"a": "", "b": null}).as_object().unwrap().clone();
    assert_eq!(missing(&required, &given), ["b", "c"]);
}

#[test]
fn revisions_change_with_any_part_of_the_content() {
    let base = template("S", "<p>h</p>", None);
    let r = revision(&base);
    assert!(r.starts_with("rev_") && r.len() == 28, "{r}");
    assert_eq!(revision(&base.clone()), r);
    let mut moved = base.clone();
    moved.subject = "S<p>h</p>".into();
    moved.html = String::new();
    assert_ne!(revision(&moved), r, "text moved between parts");
    let mut named = base.clone();
    named.from_name = Some(String::new());
    assert_ne!(revision(&named), r, "an empty name is not no name");
    let mut edited = base;
    edited.text = Some("t".into());
    assert_ne!(revision(&edited), r);
}

#[test]
fn attachments_are_checked_for_base64_size_name_and_type() {
    assert_eq!(
        check_attachments(&[attachment("a.pdf", "aGVsbG8=")], 5),
        Ok(())
    );
    assert_eq!(
        check_attachments(&[attachment("a.pdf", "aGVs\r\nbG8=")], 5),
        Ok(()),
        "MIME line breaks are allowed"
    );
    assert_eq!(
        check_attachments(&[attachment("a.pdf", "aGVsbG8=")], 4),
        Err(AttachmentError::TooLarge { limit: 4 })
    );
    assert_eq!(
        check_attachments(
            &[attachment("a.pdf", "aGVs"), attachment("b.pdf", "aGVs")],
            5
        ),
        Err(AttachmentError::TooLarge { limit: 5 }),
        "the limit is for all of them together"
    );
    assert_eq!(
        check_attachments(&[attachment("a.pdf", "not base64!")], 100),
        Err(AttachmentError::Base64(0))
    );
    assert_eq!(
        check_attachments(&[attachment("", "aGVs")], 100),
        Err(AttachmentError::Filename(0))
    );
    assert_eq!(
        check_attachments(&[attachment("a\r\nBcc: x", "aGVs")], 100),
        Err(AttachmentError::Filename(0))
    );
    let mut typed = attachment("a.pdf", "aGVs");
    typed.content_type = "not a type".into();
    assert_eq!(
        check_attachments(&[typed], 100),
        Err(AttachmentError::ContentType(0))
    );
}

proptest! {
    /// Whatever the data, the check answers (never panics) and accepts exactly what
    /// decodes within the limit.
    #[test]
    fn hostile_attachment_data_is_answered(data in ".{0,200}", limit in 0usize..200) {
        let result = check_attachments(&[attachment("f", &data)], limit);
        match decode(&data) {
            None => prop_assert!(result.is_err()),
            Some(bytes) if bytes.len() > limit => {
                prop_assert_eq!(result, Err(AttachmentError::TooLarge { limit }));
            }
            Some(_) => prop_assert_eq!(result, Ok(())),
        }
    }

    /// Any valid base64 of bytes is accepted up to the limit and refused beyond it.
    #[test]
    fn encoded_bytes_are_measured_decoded(bytes in proptest::collection::vec(any::<u8>(), 0..300), limit in 0usize..300) {
        let data = STANDARD.encode(&bytes);
        let result = check_attachments(&[attachment("f", &data)], limit);
        if bytes.len() > limit {
            prop_assert_eq!(result, Err(AttachmentError::TooLarge { limit }));
        } else {
            prop_assert_eq!(result, Ok(()));
        }
    }

    /// Any filename is answered; a control character is always refused.
    #[test]
    fn hostile_filenames_are_answered(name in "\\PC{0,300}|.*[\\r\\n\\t].*") {
        let result = check_attachments(&[attachment(&name, "aGVs")], 100);
        let chars = name.chars().count();
        let ok = chars > 0 && chars <= 255 && !name.chars().any(char::is_control);
        prop_assert_eq!(result.is_ok(), ok);
    }
}

async fn started_on(db: &TestDb) {
    let payload = Payload {
        email: "ada@example.com".into(),
        data_variables: json!({"name": "Ada"}).as_object().unwrap().clone(),
        attachments: vec![attachment("a.pdf", "aGVs")],
    };
    let id = start(&db.db, "tx_1", "", &payload, &TraceContext::default())
        .await
        .unwrap();
    let run = workflow_run::Entity::find_by_id(id)
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.workflow_id, "tx_1");
    assert_eq!(run.event_name, EVENT);
    assert_eq!(run.status, "pending");
    let stored: Payload = serde_json::from_str(&run.event_properties).unwrap();
    assert_eq!(stored, payload);
}

#[tokio::test]
async fn a_send_is_a_due_run_carrying_its_payload_on_sqlite() {
    started_on(&TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_send_is_a_due_run_carrying_its_payload_on_postgres() {
    started_on(&TestDb::postgres().await).await;
}
