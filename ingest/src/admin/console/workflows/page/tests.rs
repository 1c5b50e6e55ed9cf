//! The page as rendered: the tree in order with its counts, and hostile stored strings
//! escaped wherever they land.

#![allow(clippy::string_slice)]

use inlet_shared::graph::conditions::{Match, PropertyOperator};
use inlet_shared::graph::{AudienceFilter, Condition, Node};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::admin::console::env;

fn model(
    id: &str,
    name: &str,
    description: &str,
    revision: &str,
    graph: &Graph,
) -> workflow::Model {
    workflow::Model {
        id: id.into(),
        name: name.into(),
        trigger_type: "event".into(),
        trigger_value: None,
        audience_list_id: Some("lst_1".into()),
        audience_user_group: None,
        steps: "[]".into(),
        enabled: true,
        created_at: 0,
        updated_at: 0,
        description: Some(description.into()),
        status: "Sending".into(),
        revision_id: Some(revision.into()),
        graph: Some(serde_json::to_string(graph).unwrap()),
        exit_events: None,
    }
}

/// A trigger on `event`, an email, an audience filter on `key` = `value`, a branch whose
/// second path names a node that is not there (`dangling`), and an exit.
fn hostile_graph(event: &str, key: &str, value: &str, dangling: &str) -> Graph {
    let node = |seq, next: &[&str], kind| Node {
        seq,
        next: next.iter().map(|s| (*s).to_owned()).collect(),
        kind,
    };
    let nodes = [
        (
            "t",
            node(
                0,
                &["e"],
                NodeKind::EventTrigger {
                    event_name: Some(event.into()),
                    re_eligible: false,
                },
            ),
        ),
        (
            "e",
            node(
                1,
                &["b"],
                NodeKind::SendEmailAction {
                    email_message_id: "tpl_1".into(),
                },
            ),
        ),
        ("b", node(2, &["f", dangling], NodeKind::BranchNode)),
        (
            "f",
            node(
                3,
                &["x"],
                NodeKind::AudienceFilter {
                    filter: Some(AudienceFilter {
                        match_: Match::All,
                        conditions: vec![
                            Condition::Property {
                                key: key.into(),
                                operator: PropertyOperator::Equals,
                                value: Some(json!(value)),
                            },
                            Condition::MailingList {
                                mailing_list_id: "lst_1".into(),
                                negate: false,
                            },
                        ],
                    }),
                    applies_downstream: false,
                },
            ),
        ),
        ("x", node(4, &[], NodeKind::ExitNode)),
        (
            "a",
            node(5, &[], NodeKind::AddToListTrigger { re_eligible: true }),
        ),
    ];
    Graph {
        root: "t".into(),
        next_seq: 6,
        nodes: nodes
            .into_iter()
            .map(|(id, n)| (id.to_owned(), n))
            .collect(),
    }
}

fn render_page(
    w: &workflow::Model,
    names: &Names,
    counts: &BTreeMap<u32, counts::NodeCounts>,
) -> String {
    let graph = graph_of(w);
    let tree = graph.as_ref().map(|g| tree::build(g, counts, names));
    let summary = Summary::of(w, graph.as_ref(), names);
    let page = Page {
        csrf: "csrf".into(),
        key_name: "key".into(),
        section: "workflows",
    };
    env()
        .get_template("workflow_graph.html")
        .unwrap()
        .render(context(page, &summary, tree.as_ref(), None))
        .unwrap()
}

fn names(subject: &str, list: &str) -> Names {
    Names {
        subjects: HashMap::from([("tpl_1".to_owned(), subject.to_owned())]),
        lists: HashMap::from([("lst_1".to_owned(), list.to_owned())]),
        audience_list: Some("lst_1".into()),
    }
}

#[test]
fn the_tree_reads_in_order_with_its_counts() {
    let g = hostile_graph("stripe:invoice.payment_failed", "plan", "pro", "gone");
    let w = model("wf_1", "Dunning", "Reminds", "rev_1", &g);
    let counts = BTreeMap::from([(
        1,
        counts::NodeCounts {
            waiting: 3,
            on_timer: 0,
            passed: 7,
        },
    )]);
    let html = render_page(&w, &names("Your payment failed", "Customers"), &counts);
    let order = [
        "Trigger: event stripe:invoice.payment_failed",
        "Send email: Your payment failed",
        "3 waiting · 7 passed",
        "Branch",
        "Audience filter: plan equals pro and is on list Customers",
        "Exit",
        "Missing node <code>gone</code>",
        "Not reachable from the trigger",
        "Trigger: contact added to list Customers",
    ];
    let mut at = 0;
    for words in order {
        let found = html[at..]
            .find(words)
            .unwrap_or_else(|| panic!("{words} after {at} in {html}"));
        at += found + words.len();
    }
    for shown in ["Sending", "rev_1", "Reminds", "Workflow Dunning"] {
        assert!(html.contains(shown), "{shown}");
    }
}

#[test]
fn an_unreadable_graph_is_said_so() {
    let g = hostile_graph("a", "b", "c", "d");
    let mut w = model("wf_1", "Broken", "", "rev_1", &g);
    w.graph = Some("{not json".into());
    let html = render_page(&w, &Names::default(), &BTreeMap::new());
    assert!(html.contains("stored graph could not be read"), "{html}");
}

/// A hostile value: markup opening and closing quotes around anything printable.
fn hostile() -> impl Strategy<Value = String> {
    "\\PC{0,30}".prop_map(|s| format!("<i-x>\"x'{s}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever a stored name, subject, event name, filter key or value, list name, node id
    /// or revision holds, it renders escaped: its markup and quotes never reach the page.
    #[test]
    fn hostile_stored_strings_render_escaped(
        name in hostile(), description in hostile(), event in hostile(), key in hostile(),
        value in hostile(), dangling in hostile(), subject in hostile(), list in hostile(),
        revision in hostile(),
    ) {
        let g = hostile_graph(&event, &key, &value, &dangling);
        let w = model("wf_1", &name, &description, &revision, &g);
        let html = render_page(&w, &names(&subject, &list), &BTreeMap::new());
        prop_assert!(!html.contains("<i-x>"), "{}", html);
        prop_assert!(!html.contains("\"x'"), "{}", html);
        prop_assert!(html.contains("&lt;i-x&gt;"));
    }
}
