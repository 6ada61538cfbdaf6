//! Rule files as a small YAML tree whose every node knows its line, read with `saphyr` (the
//! maintained YAML 1.2 parser that keeps positions), so that every error can name it.
//!
//! Scalars are resolved here rather than by the loader, so that a plain `off`, `on`, `yes` or
//! `no` can be refused: YAML 1.2 reads a string, but YAML 1.1 readers (PyYAML, hence pySigma and
//! most Sigma tools) read a boolean, and the same rule would match different events there.
//! Quoted, it is a string everywhere.

use saphyr::{MarkedYaml, Scalar, ScalarStyle, YamlData, YamlLoader};

use crate::error::{Error, Location};

/// A YAML node and the line it starts on (1-based).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) line: usize,
    pub(crate) value: Value,
}

/// The shapes a node can have. Mapping keys are scalars, kept as their text.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value at `key` when this node is a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar (numbers and booleans as YAML writes them); `None` for null,
    /// sequences and mappings.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// The node's string, when it is a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// What the node is, in a word, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// The documents of a (possibly multi-document) YAML file.
pub(crate) fn load(file: &str, text: &str) -> Result<Vec<Node>, Error> {
    let scan_error = |e: &saphyr::ScanError| Error::Yaml {
        location: Location::new(file, e.marker().line()),
        message: e.info().to_string(),
    };
    let mut loader = YamlLoader::<MarkedYaml>::default();
    loader.early_parse(false);
    saphyr_parser::Parser::new_from_str(text)
        .load(&mut loader, true)
        .map_err(|e| scan_error(&e))?;
    if let Some(e) = loader.error() {
        return Err(scan_error(e));
    }
    loader
        .into_documents()
        .iter()
        .map(|doc| convert(file, doc))
        .collect()
}

/// The plain scalars PyYAML (YAML 1.1) reads as booleans and YAML 1.2 as strings.
const YAML_1_1_BOOLEANS: &[&str] = &[
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
];

fn convert(file: &str, node: &MarkedYaml<'_>) -> Result<Node, Error> {
    let line = node.span.start.line();
    let unsupported = |what: &str| Error::Yaml {
        location: Location::new(file, line),
        message: format!("{what} are not supported in rule files"),
    };
    let value = match &node.data {
        YamlData::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Int(*i),
            Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
            Scalar::String(s) => Value::Str(s.to_string()),
        },
        YamlData::Representation(text, style, tag) => {
            if *style == ScalarStyle::Plain && YAML_1_1_BOOLEANS.contains(&text.as_ref()) {
                return Err(Error::Yaml {
                    location: Location::new(file, line),
                    message: format!(
                        "'{text}' unquoted is a string in YAML 1.2 but a boolean in YAML 1.1, \
                         which pySigma and most Sigma tools read: write '{text}' in quotes"
                    ),
                });
            }
            match Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref()) {
                Some(Scalar::Null) => Value::Null,
                Some(Scalar::Boolean(b)) => Value::Bool(b),
                Some(Scalar::Integer(i)) => Value::Int(i),
                Some(Scalar::FloatingPoint(f)) => Value::Float(f.into_inner()),
                Some(Scalar::String(s)) => Value::Str(s.to_string()),
                None => {
                    return Err(Error::Yaml {
                        location: Location::new(file, line),
                        message: format!("'{text}' does not fit its tag"),
                    });
                }
            }
        }
        YamlData::Sequence(items) => Value::Seq(
            items
                .iter()
                .map(|item| convert(file, item))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                let key = convert(file, key)?;
                let Some(text) = key.scalar_text() else {
                    return Err(Error::Yaml {
                        location: Location::new(file, key.line),
                        message: format!("a mapping key must be a scalar, not {}", key.kind()),
                    });
                };
                let mut value = convert(file, value)?;
                // A list or mapping under a key starts on the key's line, not its first
                // item's: errors about the whole (a field's modifiers, an empty list) name the
                // line the reader sees the field on; its items keep their own lines.
                if matches!(value.value, Value::Seq(_) | Value::Map(_)) {
                    value.line = value.line.min(key.line);
                }
                out.push((text, value));
            }
            Value::Map(out)
        }
        YamlData::Tagged(..) => return Err(unsupported("YAML tags")),
        YamlData::Alias(_) => return Err(unsupported("YAML aliases")),
        YamlData::BadValue => {
            return Err(Error::Yaml {
                location: Location::new(file, line),
                message: "a value that cannot be read".into(),
            });
        }
    };
    Ok(Node { line, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_lines() {
        let docs = load(
            "a.yml",
            "title: x\ndetection:\n  sel:\n    a: 1\n---\ntitle: y\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        // A mapping under a key is on the key's line.
        let detection = docs[0].get("detection").unwrap();
        assert_eq!(detection.line, 2);
        let a = detection.get("sel").unwrap().get("a").unwrap();
        assert_eq!(a.line, 4);
        assert!(matches!(a.value, Value::Int(1)));
        assert_eq!(docs[1].get("title").unwrap().as_str(), Some("y"));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let docs = load(
            "a.yml",
            "a: '20'\nb: 'null'\nc: ~\nd: 'off'\ne: 20\nf: true\n",
        )
        .unwrap();
        assert_eq!(docs[0].get("a").unwrap().as_str(), Some("20"));
        assert_eq!(docs[0].get("b").unwrap().as_str(), Some("null"));
        assert!(matches!(docs[0].get("c").unwrap().value, Value::Null));
        assert_eq!(docs[0].get("d").unwrap().as_str(), Some("off"));
        assert!(matches!(docs[0].get("e").unwrap().value, Value::Int(20)));
        assert!(matches!(docs[0].get("f").unwrap().value, Value::Bool(true)));
    }

    #[test]
    fn plain_yaml_1_1_booleans_are_refused() {
        let err = load("a.yml", "title: x\nsel:\n    details.new_value: off\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.yml:3: not valid YAML: 'off' unquoted is a string in YAML 1.2 but a boolean in \
             YAML 1.1, which pySigma and most Sigma tools read: write 'off' in quotes"
        );
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let err = load("bad.yml", "title: x\ndetection:\n  sel: [a, b\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("bad.yml:"), "{text}");
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = load("dup.yml", "title: x\ntitle: y\n").unwrap_err();
        assert!(err.to_string().starts_with("dup.yml:2"), "{err}");
    }
}
