//! [`SecurityLake`]: the custom sources of an Amazon Security Lake, one per OCSF class, where
//! an archive of OCSF events lands.

use std::fmt::Write as _;

use asana_audit_log_ocsf::arrow::SecurityLakeSource;
use asana_audit_log_ocsf::{OcsfClass, OcsfVersion, mapping_table};
use chrono::{DateTime, Utc};

use crate::destination::Destination;
use crate::error::Error;

/// Base Event's `class_uid` as a table's value.
pub(crate) const BASE_EVENT: &str = "0";

/// Where the OCSF events of each class go in an Amazon Security Lake: the custom source
/// registered for the class, by the location `CreateCustomLogSource` returned for it
/// (`provider.location`), with the region and account its objects are filed under.
///
/// Every class the mapping can give but Base Event needs a location (Base Event, class 0, has
/// no Security Lake class: events that map to it go to a fallback destination, see
/// [`FormatSink::open_with_fallback`](crate::FormatSink::open_with_fallback)). All locations
/// must be in one bucket: a lake keeps its sources in the bucket of its region, which is then
/// the one destination of the lake's files.
///
/// ```
/// use asana_audit_log_ocsf::OcsfClass;
/// use asana_audit_log_pipeline::SecurityLake;
///
/// let bucket = "s3://aws-security-data-lake-eu-west-1-abc123";
/// let locations = OcsfClass::ALL
///     .into_iter()
///     .filter(|&class| class != OcsfClass::BaseEvent)
///     .map(|class| (class, format!("{bucket}/ext/asana-{}/1.0/", class.uid())));
/// let lake = SecurityLake::new("eu-west-1", "123456789012", locations)?;
/// assert_eq!(lake.bucket_url(), "s3://aws-security-data-lake-eu-west-1-abc123/");
/// # Ok::<(), asana_audit_log_pipeline::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityLake {
    region: String,
    account_id: String,
    /// Per class (its uid as text, the sink's table), its source.
    sources: Vec<(String, SecurityLakeSource)>,
}

impl SecurityLake {
    /// The lake of `region` and `account_id` with the custom source at each location of
    /// `locations` (an `s3://` URL, `provider.location`) for its class. Refused
    /// ([`Error::Refused`]) when a location is not such a URL, a class is given twice or is
    /// Base Event, the locations are in more than one bucket, or a class the mapping can give
    /// has none (the message names each such class and the event types that map to it).
    pub fn new(
        region: &str,
        account_id: &str,
        locations: impl IntoIterator<Item = (OcsfClass, String)>,
    ) -> Result<SecurityLake, Error> {
        let mut sources: Vec<(OcsfClass, SecurityLakeSource)> = Vec::new();
        for (class, location) in locations {
            let name = class_label(class);
            if class == OcsfClass::BaseEvent {
                return Err(Error::refused(format!(
                    "{name} has no Security Lake class; events that map to it go to the \
                     fallback destination instead"
                )));
            }
            if sources.iter().any(|(c, _)| *c == class) {
                return Err(Error::refused(format!(
                    "{name} is given two Security Lake locations; give each class one"
                )));
            }
            let source = SecurityLakeSource::new(&location, region, account_id)
                .map_err(|e| Error::refused(format!("{name}: {e}")))?;
            if let Some((other, _)) = sources
                .iter()
                .find(|(_, s)| overlap(&s.location(), &source.location()))
            {
                return Err(Error::refused(format!(
                    "{name} and {} are given the same Security Lake location, or one inside the \
                     other ({}); Security Lake takes one class per custom source: give each \
                     class the location of its own",
                    class_label(*other),
                    source.location()
                )));
            }
            sources.push((class, source));
        }
        if let Some((first_class, first)) = sources.first() {
            let others: Vec<String> = sources
                .iter()
                .filter(|(_, s)| s.bucket() != first.bucket())
                .map(|(c, s)| format!("{} in {}", class_label(*c), s.bucket()))
                .collect();
            if !others.is_empty() {
                return Err(Error::refused(format!(
                    "the Security Lake locations are in more than one bucket ({} in {}; {}); a \
                     lake keeps its custom sources in one bucket: check that each is the \
                     provider.location of a source of this lake",
                    class_label(*first_class),
                    first.bucket(),
                    others.join("; ")
                )));
            }
        }
        let missing: Vec<OcsfClass> = OcsfClass::ALL
            .into_iter()
            .filter(|&c| c != OcsfClass::BaseEvent && !sources.iter().any(|(s, _)| *s == c))
            .collect();
        if !missing.is_empty() {
            let mut message = String::from(
                "OCSF classes the events can map to have no Security Lake location; register a \
                 custom source for each (Security Lake takes one class per source) and give its \
                 provider.location. Without a location:",
            );
            for class in missing {
                let _ = write!(
                    message,
                    "\n  {}: {}",
                    class_label(class),
                    event_types(class)
                );
            }
            return Err(Error::refused(message));
        }
        Ok(SecurityLake {
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            sources: sources
                .into_iter()
                .map(|(class, source)| (class.uid().to_string(), source))
                .collect(),
        })
    }

    /// Refuses a fallback destination that overlaps a source's location (inside one, or
    /// holding one): its files would be filed with a class's, or the lake's under it.
    ///
    /// ```
    /// # use asana_audit_log_ocsf::OcsfClass;
    /// # use asana_audit_log_pipeline::{Destination, SecurityLake};
    /// # let locations = OcsfClass::ALL.into_iter().filter(|&c| c != OcsfClass::BaseEvent)
    /// #     .map(|c| (c, format!("s3://lake/ext/asana-{}/", c.uid())));
    /// let lake = SecurityLake::new("eu-west-1", "123456789012", locations)?;
    /// assert!(lake.check_fallback(&Destination::parse("s3://acme-audit/asana-unmapped/")?).is_ok());
    /// assert!(lake.check_fallback(&Destination::parse("s3://lake/ext/")?).is_err());
    /// # Ok::<(), asana_audit_log_pipeline::Error>(())
    /// ```
    pub fn check_fallback(&self, fallback: &Destination) -> Result<(), Error> {
        let theirs = format!("{}/", fallback.url().trim_end_matches('/'));
        for (_, source) in &self.sources {
            let location = source.location();
            if overlap(&theirs, &location) {
                return Err(Error::refused(format!(
                    "the fallback destination {} overlaps the location of a Security Lake \
                     source ({location}); give it a place of its own, e.g. beside the lake in \
                     a bucket of yours",
                    fallback.url()
                )));
            }
        }
        Ok(())
    }

    /// The bucket all sources are in, as a URL: `s3://<bucket>/`.
    pub fn bucket_url(&self) -> String {
        format!(
            "s3://{}/",
            self.sources.first().map_or("", |(_, s)| s.bucket())
        )
    }

    /// The AWS region the objects are filed under.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account id the objects are filed under.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The folder (below the bucket, without a final `/`) of an event of the class whose uid
    /// is `class_uid`, created at `at`; `None` for a class without a source (Base Event).
    pub(crate) fn folder(&self, class_uid: &str, at: DateTime<Utc>) -> Option<String> {
        let (_, source) = self.sources.iter().find(|(uid, _)| uid == class_uid)?;
        let mut prefix = source.prefix(at.date_naive());
        prefix.pop();
        Some(prefix)
    }

    /// Reads a class as a user names it: its uid (`3002`) or its name in the OCSF schema
    /// (`authentication`, `account_change`, ...).
    ///
    /// ```
    /// use asana_audit_log_ocsf::OcsfClass;
    /// use asana_audit_log_pipeline::SecurityLake;
    ///
    /// assert_eq!(SecurityLake::class("3002"), Ok(OcsfClass::Authentication));
    /// assert_eq!(SecurityLake::class("file_hosting"), Ok(OcsfClass::FileHosting));
    /// assert!(SecurityLake::class("auth").unwrap_err().contains("authentication"));
    /// ```
    pub fn class(text: &str) -> Result<OcsfClass, String> {
        OcsfClass::ALL
            .into_iter()
            .find(|class| class.schema_name() == text || class.uid().to_string() == text)
            .ok_or_else(|| {
                let known: Vec<String> = OcsfClass::ALL
                    .into_iter()
                    .filter(|&c| c != OcsfClass::BaseEvent)
                    .map(|c| format!("{} ({})", c.schema_name(), c.uid()))
                    .collect();
                format!(
                    "{text:?} is not an OCSF class the events map to; one of: {}",
                    known.join(", ")
                )
            })
    }
}

/// Whether two locations (URLs ending in `/`) are the same or one is inside the other.
fn overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// `Account Change (3001, account_change)`.
fn class_label(class: OcsfClass) -> String {
    format!(
        "{} ({}, {})",
        class.caption(),
        class.uid(),
        class.schema_name()
    )
}

/// The event types of the mapping table that map to `class` in OCSF 1.1.0 (Security Lake's
/// version), and what else may fall to it.
fn event_types(class: OcsfClass) -> String {
    let types: Vec<&str> = mapping_table()
        .iter()
        .filter(|row| row.in_version(OcsfVersion::V1_1).class == class)
        .map(|row| row.event_type)
        .collect();
    let also = match class {
        OcsfClass::EntityManagement => {
            "; also events of other types that lack what their class requires"
        }
        _ => "",
    };
    if types.is_empty() {
        format!("events of types not in the catalogue whose category maps to it{also}")
    } else {
        format!("{}{also}", types.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_but(skip: &[OcsfClass], bucket: &str) -> Vec<(OcsfClass, String)> {
        OcsfClass::ALL
            .into_iter()
            .filter(|c| *c != OcsfClass::BaseEvent && !skip.contains(c))
            .map(|c| (c, format!("s3://{bucket}/ext/asana-{}/1.0/", c.uid())))
            .collect()
    }

    fn refusal(result: Result<SecurityLake, Error>) -> String {
        match result {
            Err(Error::Refused { message }) => message,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn each_class_lands_below_its_own_location() {
        let lake = SecurityLake::new("eu-west-1", "123456789012", all_but(&[], "lake")).unwrap();
        let at = "2026-11-30T07:15:00Z".parse().unwrap();
        assert_eq!(
            lake.folder("3002", at).unwrap(),
            "ext/asana-3002/1.0/region=eu-west-1/accountId=123456789012/eventDay=20261130"
        );
        assert_eq!(lake.folder("0", at), None);
        assert_eq!(lake.bucket_url(), "s3://lake/");
    }

    #[test]
    fn a_fallback_in_or_above_a_source_is_refused() {
        let lake = SecurityLake::new("eu-west-1", "1", all_but(&[], "lake")).unwrap();
        for url in ["s3://lake/raw/", "s3://elsewhere/ext/", "/tmp/raw"] {
            lake.check_fallback(&Destination::parse(url).unwrap())
                .unwrap();
        }
        for url in [
            "s3://lake/ext/asana-3002/1.0/raw",
            "s3://lake/ext",
            "s3://lake/",
        ] {
            let refused = lake.check_fallback(&Destination::parse(url).unwrap());
            let Err(Error::Refused { message }) = refused else {
                panic!("{url}: not refused");
            };
            assert!(
                message.contains("overlaps the location"),
                "{url}: {message}"
            );
        }
    }

    #[test]
    fn a_class_without_a_location_is_named_with_its_event_types() {
        let message = refusal(SecurityLake::new(
            "eu-west-1",
            "123456789012",
            all_but(&[OcsfClass::Authentication, OcsfClass::FileHosting], "lake"),
        ));
        assert!(
            message.contains("Authentication (3002, authentication): user_login_succeeded"),
            "{message}"
        );
        assert!(message.contains("File Hosting Activity (6006"), "{message}");
        assert!(!message.contains("Account Change"), "{message}");
    }

    #[test]
    fn locations_in_two_buckets_base_event_and_twice_a_class_are_refused() {
        let mut two = all_but(&[OcsfClass::FileHosting], "lake");
        two.push((OcsfClass::FileHosting, "s3://other/ext/files/".into()));
        let message = refusal(SecurityLake::new("eu-west-1", "1", two));
        assert!(message.contains("more than one bucket"), "{message}");
        assert!(message.contains("file_hosting) in other"), "{message}");

        let mut base = all_but(&[], "lake");
        base.push((OcsfClass::BaseEvent, "s3://lake/ext/base/".into()));
        let message = refusal(SecurityLake::new("eu-west-1", "1", base));
        assert!(
            message.contains("Base Event (0, base_event) has no"),
            "{message}"
        );

        let mut twice = all_but(&[], "lake");
        twice.push((OcsfClass::Authentication, "s3://lake/ext/auth2/".into()));
        let message = refusal(SecurityLake::new("eu-west-1", "1", twice));
        assert!(message.contains("two Security Lake locations"), "{message}");

        let mut shared = all_but(&[OcsfClass::FileHosting], "lake");
        shared.push((
            OcsfClass::FileHosting,
            "s3://lake/ext/asana-3002/1.0".into(),
        ));
        let message = refusal(SecurityLake::new("eu-west-1", "1", shared));
        assert!(
            message.contains("File Hosting Activity (6006, file_hosting) and Authentication"),
            "{message}"
        );
        assert!(message.contains("one class per custom source"), "{message}");
        let mut nested = all_but(&[OcsfClass::FileHosting], "lake");
        nested.push((
            OcsfClass::FileHosting,
            "s3://lake/ext/asana-3002/1.0/x/".into(),
        ));
        let message = refusal(SecurityLake::new("eu-west-1", "1", nested));
        assert!(message.contains("one inside the other"), "{message}");

        let message = refusal(SecurityLake::new(
            "eu-west-1",
            "1",
            [(
                OcsfClass::Authentication,
                "https://lake/ext/auth".to_owned(),
            )],
        ));
        assert!(message.starts_with("Authentication (3002"), "{message}");
        assert!(message.contains("s3://"), "{message}");
    }
}
