//! Hostile values, and how one takes the place of a node of a realistic JSON body.
//!
//! A case is a small description (its `Debug` is what a failure reports); the values, up to
//! megabytes and thousands of levels deep, are only built when it runs. JSON that
//! `serde_json::Value` cannot hold (`1e400`, lone surrogates, deep nesting) goes in as raw
//! text in place of a placeholder string.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// Pieces that break code assuming ASCII, one byte per character or printable text: multibyte
/// and combining characters, NUL and other controls, bidirectional marks, a BOM, emoji and
/// ZWJ sequences, characters whose case mapping changes their length, and the punctuation
/// emails and timestamps are cut at.
pub const PIECES: &[&str] = &[
    "é",
    "e\u{301}",
    "\u{0}",
    "\u{202e}",
    "\u{200f}",
    "\u{feff}",
    "\u{7f}",
    "😀",
    "👩‍👩‍👧",
    "İ",
    "ß",
    "ﬀ",
    "\u{10ffff}",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\"",
    "\\",
    "@",
    ".",
    "+",
    "-",
    ":",
    "T",
    "Z",
    "0",
    "9",
    "1é1",
    "",
];

/// Characters of two to four bytes alone, where a byte offset can fall inside one.
pub const MULTIBYTE: &[&str] = &["é", "ß", "\u{202e}", "\u{301}", "€", "😀"];

/// JSON text that `Value` cannot hold or never writes: out-of-range and negative-zero
/// numbers, integers just past 64 bits, lone and paired surrogate escapes, an escaped NUL.
pub const RAW: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "-0.0",
    "0e0",
    "18446744073709551616",
    "18446744073709551615",
    "-9223372036854775809",
    "-9223372036854775808",
    "123456789012345678901234567890.5",
    "1.7976931348623157e308",
    r#""\ud800""#,
    r#""\udc00\ud800""#,
    r#""\ud83d\ude00""#,
    r#""\u0000""#,
    r#""a\u202eb""#,
];

/// Where a splice goes: anywhere, or a few characters from the end, where offsets,
/// domains and suffixes are.
#[derive(Debug, Clone, Copy)]
pub enum At {
    Anywhere(Index),
    FromEnd(usize),
}

/// A JSON type, for putting a value of the wrong one in a node's place.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Text,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

/// What takes a node's place.
#[derive(Debug, Clone)]
pub enum Hostile {
    /// The node's text (its JSON when it is no string) with `piece` put in at a character
    /// position, in place of the `remove` characters there.
    Splice {
        at: At,
        piece: &'static str,
        remove: usize,
    },
    /// A string of arbitrary characters.
    Chars(String),
    /// About a mebibyte of `piece`.
    Huge(&'static str),
    /// Raw JSON text.
    Raw(&'static str),
    /// `levels` arrays, or objects, nested in one another.
    Deep { levels: usize, objects: bool },
    /// The node as a value of another type (or a near one of the same).
    Retype(Kind),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Text),
        Just(Kind::Number),
        Just(Kind::Bool),
        Just(Kind::Null),
        Just(Kind::Object),
        Just(Kind::Array),
    ]
}

/// Any hostile value; the big ones (a mebibyte, ten thousand levels) are rarer, to keep a
/// run to seconds.
pub fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        6 => (
            prop_oneof![any::<Index>().prop_map(At::Anywhere), (0_usize..4).prop_map(At::FromEnd)],
            prop_oneof![
                proptest::sample::select(PIECES),
                proptest::sample::select(MULTIBYTE),
            ],
            0_usize..3,
        )
            .prop_map(|(at, piece, remove)| Hostile::Splice { at, piece, remove }),
        2 => proptest::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| Hostile::Chars(c.into_iter().collect())),
        1 => proptest::sample::select(&["x", "é", "\u{202e}", "e\u{301}", "\u{0}"][..])
            .prop_map(Hostile::Huge),
        3 => proptest::sample::select(RAW).prop_map(Hostile::Raw),
        1 => (proptest::sample::select(&[127_usize, 128, 129, 1_000, 10_000][..]), any::<bool>())
            .prop_map(|(levels, objects)| Hostile::Deep { levels, objects }),
        4 => kind().prop_map(Hostile::Retype),
        2 => prop_oneof![
            Just(i64::MIN), Just(i64::MAX), Just(-1_i64), Just(0_i64), any::<i64>()
        ].prop_map(Hostile::Int),
        1 => prop_oneof![Just(-0.0_f64), Just(f64::MAX), Just(f64::MIN_POSITIVE), any::<f64>()]
            .prop_map(Hostile::Float),
    ]
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

/// The paths of every node of `value` (itself included), parents before children.
fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    here.push(Step::Key(key.clone()));
                    walk(child, here, out);
                    here.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    here.push(Step::At(i));
                    walk(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.get_mut(key.as_str()),
        Step::At(i) => node.get_mut(*i),
    })
}

/// A body being built: the JSON, and the raw texts its placeholders stand for.
pub struct Body {
    value: Value,
    raw: Vec<String>,
}

impl Body {
    pub fn new(value: Value) -> Self {
        Self {
            value,
            raw: Vec::new(),
        }
    }

    /// Puts `hostile` in the place of the node `at` picks.
    pub fn replace(&mut self, at: Index, hostile: &Hostile) {
        let paths = paths(&self.value);
        let path = &paths[at.index(paths.len())];
        let placeholder = format!("\u{1}hostile-{}\u{1}", self.raw.len());
        let Some(node) = node_mut(&mut self.value, path) else {
            return;
        };
        let new = match hostile {
            Hostile::Splice { at, piece, remove } => {
                let text = node
                    .as_str()
                    .map_or_else(|| node.to_string(), str::to_owned);
                let chars: Vec<char> = text.chars().collect();
                let i = match at {
                    At::Anywhere(i) => i.index(chars.len() + 1),
                    At::FromEnd(n) => chars.len().saturating_sub(*n),
                };
                let end = (i + remove).min(chars.len());
                let spliced: String = chars[..i]
                    .iter()
                    .copied()
                    .chain(piece.chars())
                    .chain(chars[end..].iter().copied())
                    .collect();
                Value::String(spliced)
            }
            Hostile::Chars(text) => Value::String(text.clone()),
            Hostile::Huge(piece) => Value::String(piece.repeat((1 << 20) / piece.len().max(1))),
            Hostile::Raw(text) => {
                self.raw.push((*text).to_owned());
                Value::String(placeholder)
            }
            Hostile::Deep { levels, objects } => {
                let (open, close) = if *objects {
                    (r#"{"a":"#, "}")
                } else {
                    ("[", "]")
                };
                self.raw
                    .push(open.repeat(*levels) + "1" + &close.repeat(*levels));
                Value::String(placeholder)
            }
            Hostile::Retype(kind) => retype(node.take(), *kind),
            Hostile::Int(n) => Value::from(*n),
            Hostile::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
        };
        *node = new;
    }

    /// The body's bytes, raw texts in place.
    pub fn text(&self) -> String {
        let mut text = self.value.to_string();
        for (i, raw) in self.raw.iter().enumerate() {
            let placeholder = Value::String(format!("\u{1}hostile-{i}\u{1}")).to_string();
            text = text.replace(&placeholder, raw);
        }
        text
    }
}

/// `value` as a value of type `kind`; of its own type, a near neighbour (padded text, the
/// negated number, the other boolean, an empty container).
fn retype(value: Value, kind: Kind) -> Value {
    match (kind, value) {
        (Kind::Text, Value::String(s)) => Value::String(format!(" {s} ")),
        (Kind::Text, v) => Value::String(v.to_string()),
        (Kind::Number, Value::Number(n)) => n
            .as_i64()
            .and_then(i64::checked_neg)
            .map_or_else(|| Value::from(-n.as_f64().unwrap_or(0.0)), Value::from),
        (Kind::Number, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map_or_else(|_| Value::from(s.len()), Value::from),
        (Kind::Number, Value::Bool(b)) => Value::from(u8::from(b)),
        (Kind::Number, Value::Null) => Value::from(0),
        (Kind::Number, Value::Object(m)) => Value::from(m.len()),
        (Kind::Number, Value::Array(a)) => Value::from(a.len()),
        (Kind::Bool, Value::Bool(b)) => Value::Bool(!b),
        (Kind::Bool, v) => Value::Bool(!v.is_null()),
        (Kind::Null, _) => Value::Null,
        (Kind::Object, Value::Object(_)) => Value::Object(Map::new()),
        (Kind::Object, Value::Array(items)) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
        (Kind::Object, v) => Value::Object(Map::from_iter([("value".to_owned(), v)])),
        (Kind::Array, Value::Array(_)) => Value::Array(Vec::new()),
        (Kind::Array, Value::Object(m)) => Value::Array(m.into_iter().map(|(_, v)| v).collect()),
        (Kind::Array, v) => Value::Array(vec![v]),
    }
}
