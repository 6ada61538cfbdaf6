//! [`SecurityLake`]: the custom sources of an Amazon Security Lake, one per OCSF class, where
//! an archive of OCSF events lands.

use std::fmt::Write as _;

use asana_audit_log_ocsf::arrow::SecurityLakeSource;
use asana_audit_log_ocsf::{OcsfClass, OcsfVersion, mapping_table};
use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::sink::Partitioning;

/// Base Event's `class_uid` as a table's value.
pub(crate) const BASE_EVENT: &str = "0";

/// Where the OCSF events of each class go in an Amazon Security Lake: the custom source
/// registered for the class, by the location `CreateCustomLogSource` returned for it
/// (`provider.location`), with the region and account its objects are filed under.
///
/// Every class the mapping can give but Base Event needs a location (Base Event, class 0, has
/// no Security Lake class: events that map to it need a destination of their own). All locations must be in one bucket:
/// a lake keeps its sources in the bucket of its region, and one bucket lets every file of a
/// commit be put in place, and undone, as one.
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
    /// Where events of no Security Lake class go, below the bucket (no final `/`).
    fallback: Option<String>,
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
                "no Security Lake location is given for every OCSF class the events can map to; \
                 register a custom source for each (one class per source) and give its \
                 provider.location:",
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
            fallback: None,
        })
    }

    /// The lake with a fallback destination at `url`, in the lake's bucket and outside every
    /// source's location: events that map to OCSF Base Event (class 0, which no Security Lake
    /// source takes: events whose resource has neither a gid nor a name, of any type, known or
    /// new) land there in full, as Asana sent them, in Parquet files of the raw schema
    /// ([`parquet_schema`](crate::parquet_schema)) under `event_date=YYYY-MM-DD/` folders.
    /// One bucket lets a commit put the lake's files and these in place as one, so that both
    /// hold every event exactly once under one checkpoint.
    ///
    /// ```
    /// # use asana_audit_log_ocsf::OcsfClass;
    /// # use asana_audit_log_pipeline::SecurityLake;
    /// # let locations = OcsfClass::ALL.into_iter().filter(|&c| c != OcsfClass::BaseEvent)
    /// #     .map(|c| (c, format!("s3://lake/ext/asana-{}/", c.uid())));
    /// let lake = SecurityLake::new("eu-west-1", "123456789012", locations)?
    ///     .with_fallback("s3://lake/asana-unmapped/")?;
    /// assert!(SecurityLake::new("eu-west-1", "1", []).is_err());
    /// # Ok::<(), asana_audit_log_pipeline::Error>(())
    /// ```
    pub fn with_fallback(mut self, url: &str) -> Result<SecurityLake, Error> {
        let bucket = self.bucket_url();
        let refuse = |why: String| {
            Err(Error::refused(format!(
                "the fallback destination {url} {why}; give a prefix in the lake's bucket, \
                 e.g. {bucket}asana-unmapped/ (one bucket lets one commit cover both)"
            )))
        };
        let Some(path) = url.strip_prefix(bucket.as_str()) else {
            return refuse(format!("is not in the lake's bucket {bucket}"));
        };
        let path = path.trim_end_matches('/');
        let sound = !path.is_empty()
            && path.split('/').all(|part| {
                !part.is_empty() && part != "." && part != ".." && !part.contains(['=', '?', '#'])
            });
        if !sound {
            return refuse("has no sound path below the bucket".to_owned());
        }
        let prefix = format!("{path}/");
        for (_, source) in &self.sources {
            let location = source.location();
            let theirs = location.strip_prefix(bucket.as_str()).unwrap_or(&location);
            if theirs.starts_with(&prefix) || prefix.starts_with(theirs) {
                return refuse(format!(
                    "overlaps the location of a custom source ({location})"
                ));
            }
        }
        self.fallback = Some(path.to_owned());
        Ok(self)
    }

    /// The fallback destination's URL, when there is one (see [`with_fallback`](Self::with_fallback)).
    pub fn fallback_url(&self) -> Option<String> {
        let fallback = self.fallback.as_ref()?;
        Some(format!("{}{fallback}/", self.bucket_url()))
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
    /// is `class_uid`, created at `at`: its source's, or for Base Event the fallback
    /// destination's; `None` for a class without either.
    pub(crate) fn folder(&self, class_uid: &str, at: DateTime<Utc>) -> Option<String> {
        if class_uid == BASE_EVENT {
            let fallback = self.fallback.as_ref()?;
            return Some(format!("{fallback}/{}", Partitioning::Day.folder(at)));
        }
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
        let lake = lake.with_fallback("s3://lake/raw/asana").unwrap();
        assert_eq!(
            lake.folder("0", at).unwrap(),
            "raw/asana/event_date=2026-11-30"
        );
        assert_eq!(lake.fallback_url().unwrap(), "s3://lake/raw/asana/");
    }

    #[test]
    fn a_fallback_outside_the_bucket_or_in_a_source_is_refused() {
        let lake = SecurityLake::new("eu-west-1", "1", all_but(&[], "lake")).unwrap();
        for (url, why) in [
            ("s3://other/raw/", "is not in the lake's bucket s3://lake/"),
            ("/tmp/raw", "is not in the lake's bucket"),
            ("s3://lake/", "has no sound path"),
            ("s3://lake/raw/../x", "has no sound path"),
            ("s3://lake/ext/asana-3002/1.0/raw", "overlaps the location"),
            ("s3://lake/ext", "overlaps the location"),
        ] {
            let message = refusal(lake.clone().with_fallback(url));
            assert!(message.contains(why), "{url}: {message}");
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
