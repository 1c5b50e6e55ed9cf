use proptest::prelude::*;
use serde_json::{Value, json};

use super::{PropertyError, PropertyType, check_name, check_value, label_of, parse_date_ms};

#[test]
fn camel_case_names_pass_and_others_are_refused() {
    for ok in ["planName", "favoriteColor", "a", "seats2", "x9Y"] {
        assert_eq!(check_name(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "PlanName",
        "plan_name",
        "plan-name",
        "plan name",
        "1plan",
        "plän",
        "planName ",
        "ｐlan",
        "plan.name",
    ] {
        assert_eq!(check_name(bad), Err(PropertyError::NotCamelCase), "{bad:?}");
    }
    assert_eq!(
        check_name(&"a".repeat(101)),
        Err(PropertyError::NotCamelCase)
    );
    assert_eq!(check_name(&"a".repeat(100)), Ok(()));
    assert!(matches!(
        check_name("teamId"),
        Err(PropertyError::Reserved(_))
    ));
    assert!(matches!(
        check_name("optInStatus"),
        Err(PropertyError::Reserved(_))
    ));
    assert!(matches!(
        check_name("firstName"),
        Err(PropertyError::BuiltIn(_))
    ));
}

#[test]
fn types_keep_loops_names() {
    let names = PropertyType::ALL.map(PropertyType::as_str);
    assert_eq!(names, ["string", "number", "boolean", "date"]);
    for t in PropertyType::ALL {
        assert_eq!(PropertyType::parse(t.as_str()), Some(t));
    }
    assert_eq!(PropertyType::parse("String"), None);
    assert_eq!(PropertyType::parse("int"), None);
}

#[test]
fn values_must_be_of_the_declared_type_and_null_always_clears() {
    use PropertyType::*;
    assert_eq!(check_value("p", String, &json!("pro")), Ok(json!("pro")));
    assert_eq!(check_value("p", Number, &json!(3.5)), Ok(json!(3.5)));
    assert_eq!(check_value("p", Boolean, &json!(false)), Ok(json!(false)));
    for t in PropertyType::ALL {
        assert_eq!(check_value("p", t, &Value::Null), Ok(Value::Null));
    }
    let wrong = |t| PropertyError::WrongType {
        name: "seats".into(),
        expected: t,
    };
    assert_eq!(
        check_value("seats", Number, &json!("3")),
        Err(wrong(Number))
    );
    assert_eq!(check_value("seats", String, &json!(3)), Err(wrong(String)));
    assert_eq!(
        check_value("seats", Boolean, &json!("true")),
        Err(wrong(Boolean))
    );
    assert_eq!(check_value("seats", Date, &json!(true)), Err(wrong(Date)));
    assert_eq!(
        check_value("seats", Date, &json!("tomorrow")),
        Err(wrong(Date))
    );
    assert_eq!(check_value("seats", Date, &json!(1.5)), Err(wrong(Date)));
    assert!(
        wrong(Number)
            .to_string()
            .starts_with("seats must be a number"),
        "the message names the property"
    );
}

#[test]
fn dates_are_stored_as_rfc3339_in_utc_from_every_loops_format() {
    let noon = "2024-01-31T12:00:00Z";
    for given in [
        json!(1_706_702_400_000_i64),
        json!("2024-01-31T12:00:00Z"),
        json!("2024-01-31T12:00:00.000"),
        json!("2024-01-31T12:00:00"),
        json!("2024-01-31T12:00"),
        json!("2024-01-31 12:00:00.000"),
        json!("2024-01-31 12:00:00"),
        json!("2024-01-31 12:00"),
        json!("2024-01-31T14:00:00+02:00"),
        json!("2024-01-31 05:00-07:00"),
    ] {
        assert_eq!(
            check_value("d", PropertyType::Date, &given),
            Ok(json!(noon)),
            "{given}"
        );
    }
    assert_eq!(
        check_value("d", PropertyType::Date, &json!("2024-01-31")),
        Ok(json!("2024-01-31T00:00:00Z"))
    );
    assert_eq!(parse_date_ms("2024-02-30"), None);
    assert_eq!(parse_date_ms("31/01/2024"), None);
}

#[test]
fn labels_split_camel_case() {
    assert_eq!(label_of("planName"), "Plan Name");
    assert_eq!(label_of("a"), "A");
    assert_eq!(label_of("seats2"), "Seats2");
}

#[test]
fn recorded_values_show_their_type() {
    assert_eq!(
        PropertyType::of_value(&json!(1)),
        Some(PropertyType::Number)
    );
    assert_eq!(
        PropertyType::of_value(&json!(true)),
        Some(PropertyType::Boolean)
    );
    assert_eq!(
        PropertyType::of_value(&json!("pro")),
        Some(PropertyType::String)
    );
    assert_eq!(
        PropertyType::of_value(&json!("2024-01-31T12:00:00Z")),
        Some(PropertyType::Date)
    );
    assert_eq!(PropertyType::of_value(&Value::Null), None);
    assert_eq!(PropertyType::of_value(&json!([1])), None);
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        "[0-9 T:.+-]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(".{0,5}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Hostile names never panic, and only camelCase ASCII within the limit gets through.
    #[test]
    fn hostile_names_are_refused_or_camel_case(name in "\\PC{0,120}|[a-zA-Z0-9_ ]{0,110}") {
        if check_name(&name).is_ok() {
            let mut chars = name.chars();
            prop_assert!(chars.next().is_some_and(|c| c.is_ascii_lowercase()));
            prop_assert!(chars.all(|c| c.is_ascii_alphanumeric()));
            prop_assert!(name.len() <= 100);
        }
    }

    /// Any JSON value against any type: refused with the property's name, or stored as a
    /// value of that type (dates as RFC 3339 that read back as the same date).
    #[test]
    fn hostile_values_are_refused_or_of_the_type(value in any_json(), t in 0usize..4) {
        let expected = PropertyType::ALL[t];
        match check_value("prop", expected, &value) {
            Err(PropertyError::WrongType { name, expected: e }) => {
                prop_assert_eq!(name, "prop");
                prop_assert_eq!(e, expected);
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
            Ok(Value::Null) => prop_assert!(value.is_null()),
            Ok(stored) => {
                let ok = match expected {
                    PropertyType::String => stored.is_string(),
                    PropertyType::Number => stored.is_number(),
                    PropertyType::Boolean => stored.is_boolean(),
                    PropertyType::Date => stored
                        .as_str()
                        .and_then(parse_date_ms)
                        .is_some_and(|ms| check_value("prop", expected, &Value::from(ms)) == Ok(stored.clone())),
                };
                prop_assert!(ok, "{value} as {expected} stored as {stored}");
            }
        }
    }
}
