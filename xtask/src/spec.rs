//! Loading OpenAPI documents.

use std::path::Path;

use anyhow::{Context, Result};

/// Our spec, relative to the workspace root.
pub const SPEC_PATH: &str = "openapi/asana-audit-log.yaml";

/// Reads a YAML (or JSON) OpenAPI document as a plain JSON value.
///
/// YAML allows non-string keys (Asana's spec writes status codes as bare `200:`); they become
/// their text, as JSON requires.
pub fn load_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let yaml: serde_norway::Value = serde_norway::from_str(&text)
        .with_context(|| format!("parsing {} as YAML", path.display()))?;
    yaml_to_json(yaml).with_context(|| format!("converting {} to JSON", path.display()))
}

fn yaml_to_json(value: serde_norway::Value) -> Result<serde_json::Value> {
    use serde_norway::Value as Y;
    Ok(match value {
        Y::Mapping(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => anyhow::bail!("unsupported mapping key {other:?}"),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            serde_json::Value::Object(out)
        }
        Y::Sequence(items) => {
            serde_json::Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_>>()?)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
        other => serde_json::to_value(other)?,
    })
}

/// Reads a YAML (or JSON) OpenAPI document as a typed `openapiv3` value, the input progenitor takes.
pub fn load_openapi(path: &Path) -> Result<openapiv3::OpenAPI> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_norway::from_str(&text)
        .with_context(|| format!("parsing {} as an OpenAPI 3.0 document", path.display()))
}
