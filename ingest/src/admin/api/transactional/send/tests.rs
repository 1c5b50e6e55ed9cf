//! The request's checks: each bad field is a 400 naming its path, in Loops' shape; hostile
//! values are answered, never a panic.

#![allow(clippy::unwrap_used)]

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn refused(body: Value) -> (u16, Value) {
    let e = read(body, 1024).err().expect("refused");
    let response = e.error_response();
    let status = response.status().as_u16();
    let bytes = response.into_body().try_into_bytes().unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn ok() -> Value {
    json!({"transactionalId": "tx_1", "email": "ada@example.com"})
}

fn with(key: &str, value: Value) -> Value {
    let mut body = ok();
    body.as_object_mut().unwrap().insert(key.into(), value);
    body
}

#[test]
fn a_good_body_is_read() {
    let r = read(
        with(
            "dataVariables",
            json!({"name": "Ada", "n": 3, "items": [{"a": "x", "b": 1}]}),
        ),
        1024,
    )
    .unwrap();
    assert_eq!(r.transactional_id, "tx_1");
    assert_eq!(r.email.as_str(), "ada@example.com");
    assert!(!r.add_to_audience);
    assert_eq!(r.data_variables.unwrap().len(), 3);
}

#[test]
fn each_bad_field_names_its_path_in_loops_shape() {
    for (body, path) in [
        (json!({"email": "ada@example.com"}), "transactionalId"),
        (
            json!({"transactionalId": 5, "email": "ada@example.com"}),
            "transactionalId",
        ),
        (json!({"transactionalId": "tx_1"}), "email"),
        (with("email", json!("not an address")), "email"),
        (with("addToAudience", json!("yes")), "addToAudience"),
        (with("dataVariables", json!([1])), "dataVariables"),
        (with("dataVariables", json!({"a": true})), "dataVariables"),
        (with("dataVariables", json!({"a": [1]})), "dataVariables"),
        (
            with("dataVariables", json!({"a": {"b": 1}})),
            "dataVariables",
        ),
        (with("attachments", json!({"filename": "a"})), "attachments"),
        (
            with(
                "attachments",
                json!([{"filename": "a.txt", "contentType": "text/plain", "data": "%%%"}]),
            ),
            "attachments",
        ),
    ] {
        let (status, answer) = refused(body.clone());
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["success"], false, "{answer}");
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(answer["path"], path, "{body} → {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn attachments_over_the_limit_are_a_clear_400() {
    let data = STANDARD.encode(vec![7u8; 1025]);
    let (status, answer) = refused(with(
        "attachments",
        json!([{"filename": "a.bin", "contentType": "application/octet-stream", "data": data}]),
    ));
    assert_eq!(status, 400);
    assert_eq!(answer["path"], "attachments");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("INLET_ATTACHMENTS_MAX_BYTES"),
        "{answer}"
    );
}

#[test]
fn missing_variables_take_the_nested_shape() {
    let e = SendError::Missing {
        message: "Missing required fields: login_url".into(),
        transactional_id: "tx_1".into(),
    };
    let response = e.error_response();
    assert_eq!(response.status().as_u16(), 400);
    let bytes = response.into_body().try_into_bytes().unwrap();
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        answer,
        json!({"type": "nestedError", "success": false, "transactionalId": "tx_1",
            "error": {"path": "dataVariables", "message": "Missing required fields: login_url"}})
    );
}

#[test]
fn the_body_limit_leaves_room_for_the_base64_of_the_attachments() {
    let limit = 5 * 1024 * 1024;
    assert!(body_limit(limit) >= limit / 3 * 4 + 4);
    assert_eq!(body_limit(usize::MAX), usize::MAX);
}

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Any JSON in any field is answered: accepted, or a 400 in Loops' shape.
    #[test]
    fn hostile_bodies_are_answered(
        key in prop_oneof![
            Just("transactionalId".to_owned()), Just("email".to_owned()), Just("addToAudience".to_owned()),
            Just("dataVariables".to_owned()), Just("attachments".to_owned()), ".{0,10}",
        ],
        value in json_value(),
    ) {
        if let Err(e) = read(with(&key, value), 1024) {
            let response = e.error_response();
            prop_assert_eq!(response.status().as_u16(), 400);
        }
    }

    /// Any body at all, object or not, is answered.
    #[test]
    fn hostile_top_levels_are_answered(value in json_value()) {
        if let Err(e) = read(value, 1024) {
            prop_assert_eq!(e.error_response().status().as_u16(), 400);
        }
    }
}
