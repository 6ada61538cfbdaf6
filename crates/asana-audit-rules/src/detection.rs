//! A rule's `detection`: selections of field tests, compiled once, and how they match an
//! event's JSON.
//!
//! Matching follows the Sigma specification: the values of one field are alternatives (or all
//! required with `|all`), the fields of one mapping are all required, the mappings of a list are
//! alternatives; strings match whole values, case-insensitively, with `*` (any run of
//! characters), `?` (one character) and `\` escaping either (and itself); `|re` is a regular
//! expression, case-sensitive and unanchored; `null` matches a missing field or a JSON null.
//! A field is a dotted JSON path (`details.new_value`); a path that leads nowhere is null.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;

use crate::error::{Error, Location};
use crate::yaml::{Node, Value};

/// The modifiers a field name may carry, listed in errors.
const KNOWN_MODIFIERS: &str = "contains, startswith, endswith, all, re (with i, m, s), cidr, \
                               exists, cased, gt, gte, lt, lte";

/// Modifiers Sigma defines that this evaluator refuses (the rule is not loaded).
const REFUSED_MODIFIERS: &[&str] = &[
    "windash",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "fieldref",
    "expand",
    "neq",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
];

/// What a rule's errors need to say where they are.
pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) rule: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn invalid(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Invalid {
            location: Location::new(self.file, line),
            rule: self.rule.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(&self, line: usize, feature: impl Into<String>) -> Error {
        Error::Unsupported {
            location: Location::new(self.file, line),
            rule: self.rule.to_string(),
            feature: feature.into(),
        }
    }
}

/// A dotted JSON path, split once.
#[derive(Clone, Debug)]
pub(crate) struct FieldPath(Vec<String>);

impl FieldPath {
    pub(crate) fn parse(path: &str) -> Self {
        FieldPath(path.split('.').map(str::to_string).collect())
    }

    /// The value at this path, or `None` when the path leads nowhere.
    pub(crate) fn lookup<'e>(&self, event: &'e Json) -> Option<&'e Json> {
        self.0
            .iter()
            .try_fold(event, |value, key| value.as_object()?.get(key))
    }
}

/// One compiled value test.
#[derive(Clone, Debug)]
enum ValueTest {
    /// A missing field or JSON null.
    Null,
    /// A string pattern (wildcards, `contains`, ...) or `re`, as a regular expression.
    Pattern(Regex),
    /// A string without wildcards (`contains`, `startswith`, `endswith` or the whole value):
    /// compared as it is with an ASCII value, and by `re`, its regular expression, with any
    /// other. The regex crate is built without its literal optimizations, and running its
    /// engine for each of the few dozen plain strings an event is tested against was a sixth
    /// of `detect`'s time over an archive; the comparison gives the same answer, as ASCII
    /// letters fold only among themselves in an ASCII value.
    Literal {
        literal: String,
        place: Place,
        cased: bool,
        re: Regex,
    },
    /// An address inside the network.
    Cidr(IpNet),
    /// A number compared with `gt`, `gte`, `lt` or `lte`.
    Compare(Cmp, f64),
}

/// Where a [`ValueTest::Literal`] must stand in the value.
#[derive(Clone, Copy, Debug)]
enum Place {
    Whole,
    Start,
    End,
    Within,
}

impl Place {
    /// Whether `literal` (ASCII) stands at this place in the ASCII `text`, ignoring the case
    /// of letters unless `cased`.
    fn holds(self, text: &str, literal: &str, cased: bool) -> bool {
        let literal = literal.as_bytes();
        let same = |part: &[u8]| {
            if cased {
                part == literal
            } else {
                part.eq_ignore_ascii_case(literal)
            }
        };
        let (text, n) = (text.as_bytes(), literal.len());
        match self {
            Place::Whole => text.len() == n && same(text),
            Place::Start => text.len() >= n && same(&text[..n]),
            Place::End => text.len() >= n && same(&text[text.len() - n..]),
            Place::Within => n == 0 || text.windows(n).any(same),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl ValueTest {
    fn matches(&self, value: Option<&Json>) -> bool {
        match (self, value) {
            (ValueTest::Null, None | Some(Json::Null)) => true,
            (ValueTest::Null, Some(_)) | (_, None | Some(Json::Null)) => false,
            // A list matches when one of its items does (as SIEMs treat multi-valued fields).
            (_, Some(Json::Array(items))) => items.iter().any(|item| self.matches(Some(item))),
            (_, Some(Json::Object(_))) => false,
            (ValueTest::Pattern(re), Some(value)) => with_text(value, |text| re.is_match(text)),
            (
                ValueTest::Literal {
                    literal,
                    place,
                    cased,
                    re,
                },
                Some(value),
            ) => with_text(value, |text| {
                if text.is_ascii() {
                    place.holds(text, literal, *cased)
                } else {
                    re.is_match(text)
                }
            }),
            (ValueTest::Cidr(net), Some(value)) => with_text(value, |text| {
                text.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip))
            }),
            (ValueTest::Compare(cmp, bound), Some(value)) => {
                let number = match value {
                    Json::Number(n) => n.as_f64(),
                    Json::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                number.is_some_and(|n| match cmp {
                    Cmp::Gt => n > *bound,
                    Cmp::Gte => n >= *bound,
                    Cmp::Lt => n < *bound,
                    Cmp::Lte => n <= *bound,
                })
            }
        }
    }
}

/// Calls `f` with the text of a JSON scalar: a string as it is, a number or boolean as JSON
/// writes it.
fn with_text(value: &Json, f: impl FnOnce(&str) -> bool) -> bool {
    match value {
        Json::String(s) => f(s),
        Json::Number(n) => f(&n.to_string()),
        Json::Bool(b) => f(if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// The tests on one field: `field|modifiers: values`.
#[derive(Clone, Debug)]
struct FieldTest {
    path: FieldPath,
    test: Test,
}

#[derive(Clone, Debug)]
enum Test {
    /// `|exists: true` or `|exists: false`.
    Exists(bool),
    /// One value must match (or, with `all`, every value).
    Values { all: bool, values: Vec<ValueTest> },
}

impl FieldTest {
    fn matches(&self, event: &Json) -> bool {
        let value = self.path.lookup(event);
        match &self.test {
            Test::Exists(want) => value.is_some_and(|v| !v.is_null()) == *want,
            Test::Values { all: true, values } => values.iter().all(|t| t.matches(value)),
            Test::Values { all: false, values } => values.iter().any(|t| t.matches(value)),
        }
    }
}

/// A selection (a named search identifier): mappings that are alternatives, each a
/// conjunction of field tests.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    alternatives: Vec<Vec<FieldTest>>,
}

impl Selection {
    pub(crate) fn matches(&self, event: &Json) -> bool {
        self.alternatives
            .iter()
            .any(|fields| fields.iter().all(|f| f.matches(event)))
    }

    /// Compiles the node of one search identifier.
    pub(crate) fn compile(ctx: &Ctx<'_>, node: &Node) -> Result<Self, Error> {
        let alternatives = match &node.value {
            Value::Map(entries) => vec![compile_map(ctx, entries, node.line)?],
            Value::Seq(items) if items.iter().all(|i| matches!(i.value, Value::Map(_))) => {
                if items.is_empty() {
                    return Err(ctx.invalid(node.line, "a search identifier is an empty list"));
                }
                items
                    .iter()
                    .map(|item| match &item.value {
                        Value::Map(entries) => compile_map(ctx, entries, item.line),
                        _ => unreachable!("checked above"),
                    })
                    .collect::<Result<_, _>>()?
            }
            Value::Seq(_) | Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                return Err(ctx.unsupported(
                    node.line,
                    "a keyword search (a search identifier that lists values without a field)",
                ));
            }
            Value::Null => {
                return Err(ctx.invalid(node.line, "a search identifier is empty"));
            }
        };
        Ok(Selection { alternatives })
    }
}

fn compile_map(
    ctx: &Ctx<'_>,
    entries: &[(String, Node)],
    line: usize,
) -> Result<Vec<FieldTest>, Error> {
    if entries.is_empty() {
        return Err(ctx.invalid(line, "a search identifier is an empty mapping"));
    }
    entries
        .iter()
        .map(|(key, value)| compile_field(ctx, key, value))
        .collect()
}

/// The modifiers of one field, parsed.
#[derive(Default)]
struct Modifiers {
    op: Option<&'static str>,
    all: bool,
    cased: bool,
    re_flags: String,
    cidr: bool,
    exists: bool,
    cmp: Option<Cmp>,
}

fn compile_field(ctx: &Ctx<'_>, key: &str, node: &Node) -> Result<FieldTest, Error> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    if field.is_empty() {
        return Err(ctx.unsupported(
            node.line,
            format!("a keyword search with modifiers ('{key}' has no field name)"),
        ));
    }
    let mut m = Modifiers::default();
    let mut re = false;
    for modifier in parts {
        let mut set_op = |op: &'static str| {
            if let Some(old) = m.op.replace(op) {
                return Err(ctx.invalid(
                    node.line,
                    format!("'{key}': the modifiers '{old}' and '{op}' cannot be combined"),
                ));
            }
            Ok(())
        };
        match modifier {
            "contains" | "startswith" | "endswith" => set_op(match modifier {
                "contains" => "contains",
                "startswith" => "startswith",
                _ => "endswith",
            })?,
            "re" => {
                set_op("re")?;
                re = true;
            }
            "i" | "m" | "s" if re => m.re_flags.push_str(modifier),
            "cidr" => {
                set_op("cidr")?;
                m.cidr = true;
            }
            "exists" => {
                set_op("exists")?;
                m.exists = true;
            }
            "gt" | "gte" | "lt" | "lte" => {
                set_op("comparison")?;
                m.cmp = Some(match modifier {
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                });
            }
            "all" => m.all = true,
            "cased" => m.cased = true,
            other if REFUSED_MODIFIERS.contains(&other) => {
                return Err(
                    ctx.unsupported(node.line, format!("the '{other}' modifier (in '{key}')"))
                );
            }
            other => {
                return Err(Error::UnknownModifier {
                    location: Location::new(ctx.file, node.line),
                    rule: ctx.rule.to_string(),
                    modifier: other.to_string(),
                    known: KNOWN_MODIFIERS,
                });
            }
        }
    }
    let path = FieldPath::parse(field);
    if m.exists {
        let Value::Bool(want) = node.value else {
            return Err(ctx.invalid(
                node.line,
                format!(
                    "'{key}': the exists modifier takes true or false, not {}",
                    node.kind()
                ),
            ));
        };
        return Ok(FieldTest {
            path,
            test: Test::Exists(want),
        });
    }
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    if items.is_empty() {
        return Err(ctx.invalid(node.line, format!("'{key}' has an empty list of values")));
    }
    let values = items
        .into_iter()
        .map(|item| compile_value(ctx, key, &m, item))
        .collect::<Result<_, _>>()?;
    Ok(FieldTest {
        path,
        test: Test::Values { all: m.all, values },
    })
}

fn compile_value(ctx: &Ctx<'_>, key: &str, m: &Modifiers, node: &Node) -> Result<ValueTest, Error> {
    let text = match &node.value {
        Value::Null if m.op.is_none() => return Ok(ValueTest::Null),
        Value::Seq(_) | Value::Map(_) | Value::Null => {
            return Err(ctx.invalid(
                node.line,
                format!(
                    "'{key}': a value must be a string, number or boolean, not {}",
                    node.kind()
                ),
            ));
        }
        _ => node.scalar_text().unwrap_or_default(),
    };
    if let Some(cmp) = m.cmp {
        let bound = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => {
                return Err(ctx.invalid(
                    node.line,
                    format!("'{key}': a comparison needs a number, not {}", node.kind()),
                ));
            }
        };
        return Ok(ValueTest::Compare(cmp, bound));
    }
    if m.cidr {
        let net = text.parse::<IpNet>().map_err(|e| {
            ctx.invalid(
                node.line,
                format!("'{key}': '{text}' is not a network ({e})"),
            )
        })?;
        return Ok(ValueTest::Cidr(net));
    }
    if m.op == Some("re") {
        let mut builder = RegexBuilder::new(&text);
        builder
            .case_insensitive(m.re_flags.contains('i'))
            .multi_line(m.re_flags.contains('m'))
            .dot_matches_new_line(m.re_flags.contains('s'));
        let re = builder.build().map_err(|e| {
            ctx.invalid(
                node.line,
                format!("'{key}': '{text}' is not a regular expression this evaluator reads: {e}"),
            )
        })?;
        return Ok(ValueTest::Pattern(re));
    }
    let (lead, trail) = match m.op {
        Some("contains") => (true, true),
        Some("startswith") => (false, true),
        Some("endswith") => (true, false),
        _ => (false, false),
    };
    let pattern = wildcard_pattern(&text, lead, trail);
    let re = RegexBuilder::new(&pattern)
        .case_insensitive(!m.cased)
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| ctx.invalid(node.line, format!("'{key}': '{text}': {e}")))?;
    Ok(match ascii_literal(&text) {
        Some(literal) => ValueTest::Literal {
            literal,
            place: match (lead, trail) {
                (false, false) => Place::Whole,
                (false, true) => Place::Start,
                (true, false) => Place::End,
                (true, true) => Place::Within,
            },
            cased: m.cased,
            re,
        },
        None => ValueTest::Pattern(re),
    })
}

/// The text a Sigma string stands for when it is ASCII and has no wildcard (its escapes
/// undone, as [`wildcard_pattern`] reads them); `None` otherwise.
fn ascii_literal(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => return None,
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(next);
                }
                _ => out.push('\\'),
            },
            c if c.is_ascii() => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// The anchored regular expression of a Sigma string: `*` and `?` are wildcards, `\` escapes
/// `*`, `?` and `\` and is itself anywhere else; `lead`/`trail` add a `*` before/after.
fn wildcard_pattern(text: &str, lead: bool, trail: bool) -> String {
    let mut out = String::from("^");
    if lead {
        out.push_str(".*");
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push_str(&regex::escape(&next.to_string()));
                }
                _ => out.push_str(r"\\"),
            },
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    if trail {
        out.push_str(".*");
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selection(yaml: &str) -> Result<Selection, Error> {
        let docs = crate::yaml::load("t.yml", yaml)?;
        let ctx = Ctx {
            file: "t.yml",
            rule: "t",
        };
        Selection::compile(&ctx, &docs[0])
    }

    #[test]
    fn wildcards_escapes_and_case() {
        let s = selection("a: 'Ad?in*'").unwrap();
        assert!(s.matches(&json!({"a": "admin"})));
        assert!(s.matches(&json!({"a": "ADMIN role"})));
        assert!(!s.matches(&json!({"a": "super_admin"})));
        let s = selection(r"a: 'x\*y\?z\\w\q'").unwrap();
        assert!(s.matches(&json!({"a": r"x*y?z\w\q"})));
        assert!(!s.matches(&json!({"a": r"xAy?z\w\q"})));
        let s = selection("a|cased: Admin").unwrap();
        assert!(s.matches(&json!({"a": "Admin"})));
        assert!(!s.matches(&json!({"a": "admin"})));
    }

    #[test]
    fn modifiers() {
        let s = selection("a|contains: min").unwrap();
        assert!(s.matches(&json!({"a": "super_admin"})));
        let s = selection("a|startswith: sup").unwrap();
        assert!(s.matches(&json!({"a": "super_admin"})) && !s.matches(&json!({"a": "a_super"})));
        let s = selection("a|endswith: MIN").unwrap();
        assert!(s.matches(&json!({"a": "super_admin"})) && !s.matches(&json!({"a": "admins"})));
        let s = selection("a|contains|all: [super, admin]").unwrap();
        assert!(s.matches(&json!({"a": "super_admin"})) && !s.matches(&json!({"a": "admin"})));
        let s = selection("a|contains|all: min").unwrap();
        assert!(
            s.matches(&json!({"a": "admin"})),
            "all of one value is that value"
        );
        let s = selection("a|re: '^ad.+n$'").unwrap();
        assert!(s.matches(&json!({"a": "admin"})) && !s.matches(&json!({"a": "ADMIN"})));
        let s = selection("a|re|i: 'dmi'").unwrap();
        assert!(s.matches(&json!({"a": "ADMIN"})));
        let s = selection("a|cidr: [10.0.0.0/8, '2001:db8::/32']").unwrap();
        assert!(s.matches(&json!({"a": "10.2.3.4"})) && s.matches(&json!({"a": "2001:db8::1"})));
        assert!(!s.matches(&json!({"a": "11.0.0.1"})) && !s.matches(&json!({"a": "nope"})));
        let s = selection("a|exists: true").unwrap();
        assert!(
            s.matches(&json!({"a": ""}))
                && !s.matches(&json!({"a": null}))
                && !s.matches(&json!({}))
        );
        let s = selection("a|exists: false").unwrap();
        assert!(s.matches(&json!({})) && !s.matches(&json!({"a": 1})));
        let s = selection("a|gte: 10").unwrap();
        assert!(
            s.matches(&json!({"a": 10}))
                && s.matches(&json!({"a": "11"}))
                && !s.matches(&json!({"a": 9}))
        );
    }

    #[test]
    fn plain_strings_match_as_their_regular_expressions_do() {
        let values = [
            "admin",
            "ADMIN",
            "super_Admin",
            "admins",
            "",
            "x*y",
            r"x\y",
            "ad\nmin",
            "\u{212a}ey",
            "Åsa admin",
        ];
        for key in ["a", "a|contains", "a|startswith", "a|endswith", "a|cased"] {
            for pattern in ["admin", "Min", "", r"x\*y", r"x\y", "key"] {
                let s = selection(&format!("'{key}': '{pattern}'")).unwrap();
                let Test::Values { values: tests, .. } = &s.alternatives[0][0].test else {
                    panic!("{key}: not a value test");
                };
                let ValueTest::Literal { re, .. } = &tests[0] else {
                    panic!("{key}: '{pattern}' is not compiled as a literal");
                };
                for value in values {
                    assert_eq!(
                        tests[0].matches(Some(&json!(value))),
                        re.is_match(value),
                        "{key}: '{pattern}' on {value:?}"
                    );
                }
            }
        }
        let s = selection("a: 'ad*'").unwrap();
        let Test::Values { values: tests, .. } = &s.alternatives[0][0].test else {
            panic!("not a value test");
        };
        assert!(
            matches!(tests[0], ValueTest::Pattern(_)),
            "a wildcard is a pattern"
        );
    }

    #[test]
    fn null_numbers_lists_and_paths() {
        let s = selection("a.b: null").unwrap();
        assert!(s.matches(&json!({})) && s.matches(&json!({"a": {"b": null}})));
        assert!(!s.matches(&json!({"a": {"b": ""}})));
        let s = selection("a.b: 20").unwrap();
        assert!(s.matches(&json!({"a": {"b": 20}})) && s.matches(&json!({"a": {"b": "20"}})));
        let s = selection("a: [x, y]").unwrap();
        assert!(s.matches(&json!({"a": "Y"})) && s.matches(&json!({"a": ["z", "x"]})));
        let s = selection("- a: x\n- b: y\n").unwrap();
        assert!(s.matches(&json!({"b": "y"})) && !s.matches(&json!({"c": "y"})));
        let s = selection("a: x\nb: y\n").unwrap();
        assert!(s.matches(&json!({"a": "x", "b": "y"})) && !s.matches(&json!({"a": "x"})));
    }

    #[test]
    fn refusals_name_the_line_and_feature() {
        let err = selection("a: 1\nb|base64offset|contains: x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yml:2: rule 't': the 'base64offset' modifier (in 'b|base64offset|contains') is not supported by this evaluator"
        );
        let err = selection("a|contians: x\n").unwrap_err();
        assert!(
            matches!(&err, Error::UnknownModifier { modifier, .. } if modifier == "contians"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("t.yml:1: rule 't': unknown modifier 'contians'")
        );
        let err = selection("- x\n- y\n").unwrap_err();
        assert!(err.to_string().contains("keyword search"), "{err}");
        let err = selection("a|contains|startswith: x\n").unwrap_err();
        assert!(err.to_string().contains("cannot be combined"), "{err}");
        let err = selection("a|re: '(?<=x)y'\n").unwrap_err();
        assert!(err.to_string().contains("regular expression"), "{err}");
        let err = selection("a|cidr: 10.0.0.0/33\n").unwrap_err();
        assert!(err.to_string().contains("not a network"), "{err}");
    }
}
