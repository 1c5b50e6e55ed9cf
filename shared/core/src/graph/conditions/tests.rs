//! Audience filters' evaluation: hand-picked cases of each operator's meaning, and
//! properties over arbitrary JSON (no input panics; negated operators flip; `all` and
//! `any` obey their laws).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{AudienceFilter, Condition, ContactFacts, Match, PropertyOperator as Op, matches};

fn facts(properties: Value) -> ContactFacts {
    ContactFacts {
        properties: match properties {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        ..ContactFacts::default()
    }
}

fn prop(key: &str, operator: Op, value: Value) -> Condition {
    Condition::Property {
        key: key.into(),
        operator,
        value: Some(value),
    }
}

fn one(c: Condition) -> AudienceFilter {
    AudienceFilter {
        match_: Match::All,
        conditions: vec![c],
    }
}

fn check(properties: Value, key: &str, operator: Op, value: Value) -> bool {
    matches(&one(prop(key, operator, value)), &facts(properties))
}

#[test]
fn operators_have_loops_meanings() {
    let ada = json!({"firstName": "Ada", "plan": "Pro", "seats": 12, "vip": true,
        "renewsAt": "2026-03-01T00:00:00Z", "trialEnd": 1_767_225_600, "note": ""});
    assert!(check(ada.clone(), "firstName", Op::Equals, json!("ada")));
    assert!(check(ada.clone(), "plan", Op::Contains, json!("PR")));
    assert!(check(ada.clone(), "plan", Op::NotContains, json!("free")));
    assert!(check(ada.clone(), "seats", Op::Equals, json!("12")));
    assert!(check(ada.clone(), "seats", Op::GreaterThan, json!(9)));
    assert!(!check(ada.clone(), "seats", Op::GreaterThan, json!(12)));
    assert!(check(ada.clone(), "seats", Op::LessThan, json!("100")));
    assert!(!check(ada.clone(), "plan", Op::GreaterThan, json!(1)));
    assert!(check(ada.clone(), "vip", Op::IsTrue, Value::Null));
    assert!(check(ada.clone(), "vip", Op::Equals, json!("true")));
    assert!(check(ada.clone(), "missing", Op::IsFalse, Value::Null));
    assert!(check(ada.clone(), "note", Op::Empty, Value::Null));
    assert!(check(ada.clone(), "missing", Op::Empty, Value::Null));
    assert!(check(ada.clone(), "missing", Op::Equals, json!("")));
    assert!(check(ada.clone(), "plan", Op::NotEmpty, Value::Null));
    assert!(check(
        ada.clone(),
        "renewsAt",
        Op::DateNotEmpty,
        Value::Null
    ));
    assert!(check(ada.clone(), "missing", Op::DateEmpty, Value::Null));
    assert!(check(
        ada.clone(),
        "renewsAt",
        Op::After,
        json!("2026-02-28")
    ));
    assert!(check(
        ada.clone(),
        "renewsAt",
        Op::Before,
        json!(1_772_409_600_000i64)
    ));
    // Epoch seconds and ISO text name the same instant (2026-01-01).
    assert!(check(
        ada.clone(),
        "trialEnd",
        Op::Between,
        json!({"from": "2025-12-31", "to": "2026-01-01T00:00:00Z"})
    ));
    assert!(!check(
        ada.clone(),
        "trialEnd",
        Op::Between,
        json!({"from": "2026-01-02"})
    ));
    assert!(check(ada, "anything", Op::Any, Value::Null));
}

#[test]
fn lists_events_and_sends_are_conditions_too() {
    let mut f = ContactFacts::default();
    f.lists.insert("lst_beta".into());
    f.events.insert("stripe:invoice.paid".into());
    f.sent_messages.insert("tpl_1".into());
    let list = |negate| Condition::MailingList {
        mailing_list_id: "lst_beta".into(),
        negate,
    };
    let paid = |negate| Condition::Event {
        event_name: "stripe:invoice.paid".into(),
        negate,
    };
    let sent = |id: &str| Condition::Activity {
        action: "sent".into(),
        negate: false,
        target: "workflowEmail".into(),
        id: id.into(),
    };
    assert!(matches(&one(list(false)), &f));
    assert!(!matches(&one(list(true)), &f));
    assert!(!matches(&one(paid(true)), &f));
    assert!(matches(&one(sent("tpl_1")), &f));
    assert!(!matches(&one(sent("tpl_2")), &f));
    assert!(!matches(&one(paid(false)), &ContactFacts::default()));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2026-01-01T10:00:00Z")),
        Just(json!("true")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("from|to|x", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![
        Op::Any,
        Op::Contains,
        Op::NotContains,
        Op::Equals,
        Op::NotEquals,
        Op::GreaterThan,
        Op::LessThan,
        Op::IsTrue,
        Op::IsFalse,
        Op::Empty,
        Op::NotEmpty,
        Op::DateEmpty,
        Op::DateNotEmpty,
        Op::After,
        Op::Before,
        Op::Between,
    ])
}

fn arb_condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        ("k|plan|missing", arb_op(), proptest::option::of(arb_json())).prop_map(
            |(key, operator, value)| Condition::Property {
                key,
                operator,
                value
            }
        ),
        ("lst_a|lst_b", any::<bool>()).prop_map(|(mailing_list_id, negate)| {
            Condition::MailingList {
                mailing_list_id,
                negate,
            }
        }),
        ("e1|e2", any::<bool>())
            .prop_map(|(event_name, negate)| Condition::Event { event_name, negate }),
    ]
}

fn arb_facts() -> impl Strategy<Value = ContactFacts> {
    (
        prop::collection::btree_map("k|plan|other", arb_json(), 0..3),
        prop::collection::btree_set("lst_a|lst_b", 0..2),
        prop::collection::btree_set("e1|e2", 0..2),
    )
        .prop_map(|(p, lists, events)| ContactFacts {
            properties: p.into_iter().collect(),
            lists,
            events,
            ..ContactFacts::default()
        })
}

/// The operator whose result is always the opposite.
fn negation(op: Op) -> Option<Op> {
    Some(match op {
        Op::Contains => Op::NotContains,
        Op::Equals => Op::NotEquals,
        Op::IsTrue => Op::IsFalse,
        Op::Empty => Op::NotEmpty,
        Op::DateEmpty => Op::DateNotEmpty,
        _ => return None,
    })
}

proptest! {
    #[test]
    fn arbitrary_values_and_filters_never_panic(
        conditions in prop::collection::vec(arb_condition(), 0..5),
        any_of in any::<bool>(),
        f in arb_facts(),
    ) {
        let match_ = if any_of { Match::Any } else { Match::All };
        let _ = matches(&AudienceFilter { match_, conditions }, &f);
    }

    #[test]
    fn negated_operators_flip(actual in arb_json(), expected in arb_json(), op in arb_op()) {
        if let Some(not) = negation(op) {
            let f = facts(json!({"k": actual}));
            prop_assert_ne!(
                check(f.properties.clone().into(), "k", op, expected.clone()),
                check(f.properties.into(), "k", not, expected)
            );
        }
    }

    #[test]
    fn negated_list_and_event_conditions_flip(c in arb_condition(), f in arb_facts()) {
        let flipped = match c.clone() {
            Condition::MailingList { mailing_list_id, negate } =>
                Condition::MailingList { mailing_list_id, negate: !negate },
            Condition::Event { event_name, negate } => Condition::Event { event_name, negate: !negate },
            _ => return Ok(()),
        };
        prop_assert_ne!(matches(&one(c), &f), matches(&one(flipped), &f));
    }

    #[test]
    fn all_and_any_obey_their_laws(
        conditions in prop::collection::vec(arb_condition(), 1..5),
        f in arb_facts(),
    ) {
        let each: Vec<bool> = conditions.iter().map(|c| matches(&one(c.clone()), &f)).collect();
        let all = AudienceFilter { match_: Match::All, conditions: conditions.clone() };
        let any = AudienceFilter { match_: Match::Any, conditions };
        prop_assert_eq!(matches(&all, &f), each.iter().all(|b| *b));
        prop_assert_eq!(matches(&any, &f), each.iter().any(|b| *b));
        prop_assert!(!matches(&all, &f) || matches(&any, &f));
    }

    #[test]
    fn an_empty_filter_lets_everyone_on(f in arb_facts(), any_of in any::<bool>()) {
        let match_ = if any_of { Match::Any } else { Match::All };
        let empty = AudienceFilter { match_, conditions: Vec::new() };
        prop_assert!(matches(&empty, &f));
    }
}
