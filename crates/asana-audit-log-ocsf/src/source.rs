//! The event's members as serde_json reads them: each key and value as its exact JSON text.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One member of a JSON object: its key and value as received, and the key's name.
#[derive(Clone, Debug)]
pub(crate) struct Member<'a> {
    /// The key's JSON text (quotes and escapes as received).
    pub(crate) key: &'a RawValue,
    /// The value's JSON text.
    pub(crate) value: &'a RawValue,
    /// The key with its escapes read (empty when they are no Unicode text, e.g. a lone
    /// surrogate, which names none of the members the mapper reads).
    pub(crate) name: String,
}

/// The members of the JSON object `text`, in order, repeats included; none when `text` is not
/// an object.
pub(crate) fn members(text: &str) -> Vec<Member<'_>> {
    serde_json::from_str::<Members<'_>>(text)
        .map(|members| members.0)
        .unwrap_or_default()
}

/// The value of the last member named `name` (the one serde_json keeps when a key repeats).
pub(crate) fn last<'a>(members: &[Member<'a>], name: &str) -> Option<&'a RawValue> {
    members
        .iter()
        .rev()
        .find(|m| m.name == name)
        .map(|m| m.value)
}

/// The members of the object that is the value of the last member named `name`; none when it
/// is missing or not an object.
pub(crate) fn object<'a>(members: &[Member<'a>], name: &str) -> Vec<Member<'a>> {
    last(members, name).map_or_else(Vec::new, |value| self::members(value.get()))
}

/// A JSON object's members in order, duplicates kept (a map type would keep one).
struct Members<'a>(Vec<Member<'a>>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<&RawValue, &RawValue>()? {
                    let name = serde_json::from_str(key.get()).unwrap_or_default();
                    members.push(Member { key, value, name });
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_values_as_received() {
        let text =
            r#"{"a":"x\"}","b":{"c":[1,{"d":"]"}]},"\u0065":-1.5e3,"a":null,"f":[],"g":true}"#;
        let all = members(text);
        let got: Vec<(&str, &str, &str)> = all
            .iter()
            .map(|m| (m.key.get(), m.name.as_str(), m.value.get()))
            .collect();
        assert_eq!(
            got,
            [
                (r#""a""#, "a", r#""x\"}""#),
                (r#""b""#, "b", r#"{"c":[1,{"d":"]"}]}"#),
                (r#""\u0065""#, "e", "-1.5e3"),
                (r#""a""#, "a", "null"),
                (r#""f""#, "f", "[]"),
                (r#""g""#, "g", "true"),
            ]
        );
        assert_eq!(last(&all, "a").map(RawValue::get), Some("null"));
        assert_eq!(object(&all, "b").len(), 1);
        assert!(object(&all, "a").is_empty());
        assert!(members("{}").is_empty());
        assert!(members("[1]").is_empty());
        assert!(members(r#"{"a":"unterminated"#).is_empty());
    }
}
