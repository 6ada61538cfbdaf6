//! Open enums: string values the server sends, typed where known and kept verbatim where not.
//!
//! Every enum here is `#[non_exhaustive]` and has an `Unknown(String)` variant. Parsing never
//! fails: a string this version knows becomes its variant, any other string becomes `Unknown`
//! with the string unchanged, so `Display` (and serde) give back exactly what was read.
//! Equality, ordering and hashing compare the wire strings, so an `Unknown` built by hand from a
//! known string still equals the known variant.

use std::borrow::Cow;
use std::fmt;

use schemars::r#gen::SchemaGenerator;
use schemars::schema::{InstanceType, Metadata, Schema, SchemaObject};

/// Declares an open enum: variants with their wire strings, plus `Unknown(String)`, with
/// `Display`/`FromStr`/serde/`JsonSchema`/comparison impls that all go through the wire string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// Parsing never fails (`"...".parse::<T>()` has `Infallible` as its error): unknown
        /// strings become [`Self::Unknown`] and print back unchanged.
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of the library does not know, kept exactly as received.
            Unknown(String),
        }

        impl $name {
            /// Every known value, in catalogue order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire string, e.g. for a query parameter.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Unknown(other) => other,
                }
            }

            /// The known variant for `value`, or `None` if this version does not know it.
            pub fn known(value: &str) -> Option<Self> {
                match value {
                    $( $wire => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// `true` unless this is [`Self::Unknown`] holding a string this version does not know.
            pub fn is_known(&self) -> bool {
                Self::known(self.as_str()).is_some()
            }

            /// Iterates over [`Self::ALL`].
            pub fn iter() -> std::slice::Iter<'static, $name> {
                Self::ALL.iter()
            }
        }

        impl crate::enums::OpenEnum for $name {
            const NAME: &'static str = stringify!($name);
            fn known_wires() -> Vec<&'static str> {
                vec![$($wire),*]
            }
            fn from_wire(value: std::borrow::Cow<'_, str>) -> Self {
                Self::known(&value).unwrap_or_else(|| Self::Unknown(value.into_owned()))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Ok(crate::enums::OpenEnum::from_wire(std::borrow::Cow::Borrowed(value)))
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                crate::enums::OpenEnum::from_wire(std::borrow::Cow::Borrowed(value))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                crate::enums::OpenEnum::from_wire(std::borrow::Cow::Owned(value))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::enums::deserialize_open(deserializer)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }
            fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                crate::enums::open_enum_schema::<Self>(generator)
            }
        }
    };
}

/// What the open-enum helpers need from a generated enum.
pub(crate) trait OpenEnum: Sized {
    const NAME: &'static str;
    fn known_wires() -> Vec<&'static str>;
    fn from_wire(value: Cow<'_, str>) -> Self;
}

/// Deserializes any string into an open enum; only a non-string is an error.
pub(crate) fn deserialize_open<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: OpenEnum,
{
    struct Visit<T>(std::marker::PhantomData<T>);

    impl<T: OpenEnum> serde::de::Visitor<'_> for Visit<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a string ({})", T::NAME)
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
            Ok(T::from_wire(Cow::Borrowed(value)))
        }

        fn visit_string<E: serde::de::Error>(self, value: String) -> Result<T, E> {
            Ok(T::from_wire(Cow::Owned(value)))
        }
    }

    deserializer.deserialize_str(Visit(std::marker::PhantomData))
}

/// The schema of an open enum: any string, with the known values listed in the description.
pub(crate) fn open_enum_schema<T: OpenEnum>(_: &mut SchemaGenerator) -> Schema {
    let known = T::known_wires();
    let description = format!(
        "One of the known values {}, or any other string Asana adds later.",
        known
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        metadata: Some(Box::new(Metadata {
            description: Some(description),
            examples: known
                .first()
                .map(|v| serde_json::json!(v))
                .into_iter()
                .collect(),
            ..Metadata::default()
        })),
        ..SchemaObject::default()
    }
    .into()
}

open_enum! {
    /// The kind of actor behind an event (`actor.actor_type`), also usable as the `actor_type`
    /// filter (only the known values: the API rejects others).
    pub enum ActorType {
        /// `user`: a person of the domain.
        User => "user",
        /// `asana`: Asana itself, e.g. an automated process.
        Asana => "asana",
        /// `asana_support`: Asana's support staff.
        AsanaSupport => "asana_support",
        /// `anonymous`: an unauthenticated actor, e.g. a failed login.
        Anonymous => "anonymous",
        /// `external_administrator`: an administrator outside the domain.
        ExternalAdministrator => "external_administrator",
    }
}

open_enum! {
    /// The channel an event came through (`context.context_type`).
    pub enum ContextType {
        /// `web`: the web app.
        Web => "web",
        /// `desktop`: the desktop app.
        Desktop => "desktop",
        /// `mobile`: a mobile app.
        Mobile => "mobile",
        /// `asana_support`: Asana's support tools.
        AsanaSupport => "asana_support",
        /// `asana`: Asana internally.
        Asana => "asana",
        /// `email`: an email integration.
        Email => "email",
        /// `api`: the REST API.
        Api => "api",
    }
}

open_enum! {
    /// How an API request authenticated (`context.api_authentication_method`).
    pub enum ApiAuthenticationMethod {
        /// `cookie`: a browser session.
        Cookie => "cookie",
        /// `oauth`: an OAuth application.
        Oauth => "oauth",
        /// `personal_access_token`: a personal access token.
        PersonalAccessToken => "personal_access_token",
        /// `service_account`: a service account's token.
        ServiceAccount => "service_account",
    }
}

// `EventCategory`, `EventType` and their catalogue lookups, generated from the project's
// event-type catalogue by `cargo xtask generate`.
include!("event_types.rs");

impl EventType {
    /// The category the catalogue gives this type, if it gives one (`None` for unknown types
    /// and for catalogue rows whose category is blank).
    ///
    /// ```
    /// use asana_audit_log::types::{EventCategory, EventType};
    /// assert_eq!(EventType::UserLoginSucceeded.category(), Some(EventCategory::Logins));
    /// assert_eq!("brand_new_type".parse::<EventType>().unwrap().category(), None);
    /// ```
    pub fn category(&self) -> Option<EventCategory> {
        self.catalogue_category()
    }

    /// The resource type the catalogue gives this event type (e.g. `"user"`), if it gives one.
    ///
    /// ```
    /// use asana_audit_log::types::EventType;
    /// assert_eq!(EventType::UserLoginSucceeded.resource_type(), Some("user"));
    /// ```
    pub fn resource_type(&self) -> Option<&'static str> {
        self.catalogue_resource_type()
    }
}

impl ActorType {
    /// The generated client's closed enum, for the `actor_type` filter; `None` for `Unknown`,
    /// which the API would reject.
    pub(crate) fn to_api(&self) -> Option<asana_audit_log_api::types::GetAuditLogEventsActorType> {
        use asana_audit_log_api::types::GetAuditLogEventsActorType as Api;
        Some(match self {
            Self::User => Api::User,
            Self::Asana => Api::Asana,
            Self::AsanaSupport => Api::AsanaSupport,
            Self::Anonymous => Api::Anonymous,
            Self::ExternalAdministrator => Api::ExternalAdministrator,
            Self::Unknown(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_complete() {
        let rows = CATALOGUE_ROWS;
        assert_eq!(EventType::ALL.len(), rows.len());
        for (cells, known) in rows.iter().zip(EventType::ALL) {
            assert_eq!(known.as_str(), cells[0]);
            assert_eq!(
                known.category().map(|c| c.to_string()).unwrap_or_default(),
                cells[1]
            );
            assert_eq!(known.resource_type().unwrap_or(""), cells[2]);
        }
    }

    #[test]
    fn known_strings_parse_to_known_variants() {
        for known in EventType::iter() {
            let parsed: EventType = known.as_str().parse().unwrap();
            assert!(parsed.is_known());
            assert!(!matches!(parsed, EventType::Unknown(_)));
            assert_eq!(&parsed, known);
        }
        for known in ActorType::iter() {
            assert!(!matches!(
                ActorType::from(known.to_string()),
                ActorType::Unknown(_)
            ));
        }
    }

    #[test]
    fn unknown_strings_round_trip() {
        for raw in [
            "",
            "User",
            "user ",
            "brand_new",
            "ünïcödé",
            "user_login_succeeded2",
        ] {
            let parsed: EventType = raw.parse().unwrap();
            assert_eq!(parsed, EventType::Unknown(raw.to_owned()));
            assert_eq!(parsed.to_string(), raw);
            let json = serde_json::to_string(&parsed).unwrap();
            let back: EventType = serde_json::from_str(&json).unwrap();
            assert_eq!(back.as_str(), raw);
            assert!(matches!(back, EventType::Unknown(_)));
        }
    }

    #[test]
    fn hand_built_unknown_equals_known() {
        let by_hand = ContextType::Unknown("api".to_owned());
        assert_eq!(by_hand, ContextType::Api);
        assert!(by_hand.is_known());
    }

    #[test]
    fn serde_is_the_wire_string() {
        assert_eq!(
            serde_json::to_string(&ApiAuthenticationMethod::ServiceAccount).unwrap(),
            "\"service_account\""
        );
        let parsed: ActorType = serde_json::from_str("\"external_administrator\"").unwrap();
        assert_eq!(parsed, ActorType::ExternalAdministrator);
        assert!(serde_json::from_str::<ActorType>("5").is_err());
    }

    #[test]
    fn actor_type_maps_to_the_generated_enum() {
        for known in ActorType::iter() {
            assert_eq!(known.to_api().unwrap().to_string(), known.as_str());
        }
        assert!(ActorType::Unknown("robot".into()).to_api().is_none());
    }
}
