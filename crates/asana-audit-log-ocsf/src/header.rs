//! The members every mapped event starts with (class, category, activity, type, severity and
//! status), written once per combination the mapping uses and then copied, instead of number
//! by number for every event.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::json::{Obj, key};
use crate::mapping_table::ROWS;
use crate::table::{OcsfClass, StatusRule};

/// The text before and after the value of `activity_name`, which is the only part that may
/// come from the event (with activity 99).
#[derive(Clone, Debug)]
pub(crate) struct Header {
    /// `{"class_uid":…,"activity_id":…,"activity_name":`
    pub(crate) before: String,
    /// `,"type_uid":…,"status":"…"`
    pub(crate) after: String,
    /// The activity name `type_name` was made with.
    activity_name: &'static str,
}

impl Header {
    fn new(
        class: OcsfClass,
        activity_id: u8,
        activity_name: &'static str,
        status: StatusRule,
    ) -> Header {
        let mut before = String::new();
        let mut o = Obj::begin(&mut before);
        o.int(key!("class_uid"), i64::from(class.uid()));
        o.lit(key!("class_name"), class.caption());
        o.int(key!("category_uid"), i64::from(class.category_uid()));
        o.lit(key!("category_name"), class.category_caption());
        o.int(key!("activity_id"), i64::from(activity_id));
        o.key(key!("activity_name"));

        let mut after = String::new();
        let mut o = Obj::resume(&mut after);
        o.int(
            key!("type_uid"),
            i64::from(class.uid()) * 100 + i64::from(activity_id),
        );
        {
            let out = o.key(key!("type_name"));
            out.push('"');
            out.push_str(class.caption());
            out.push_str(": ");
            out.push_str(activity_name);
            out.push('"');
        }
        o.int(key!("severity_id"), 1);
        o.lit(key!("severity"), "Informational");
        o.int(key!("status_id"), i64::from(status.status_id()));
        o.lit(key!("status"), status.caption());
        Header {
            before,
            after,
            activity_name,
        }
    }
}

/// Activity ids below this are kept (OCSF's go up to 99, Other).
const ACTIVITIES: usize = 100;
const STATUSES: [StatusRule; 3] = [
    StatusRule::Success,
    StatusRule::Failure,
    StatusRule::Unknown,
];

fn slot(class: OcsfClass, activity_id: u8, status: StatusRule) -> Option<usize> {
    let class = OcsfClass::ALL.iter().position(|&c| c == class)?;
    let status = STATUSES.iter().position(|&s| s == status)?;
    let activity = usize::from(activity_id);
    (activity < ACTIVITIES).then_some((class * ACTIVITIES + activity) * STATUSES.len() + status)
}

/// The headers of every row of the mapping table, and of activity 99 (Other) of every class.
fn headers() -> &'static [Option<Header>] {
    static HEADERS: OnceLock<Vec<Option<Header>>> = OnceLock::new();
    HEADERS.get_or_init(|| {
        let mut headers = vec![None; OcsfClass::ALL.len() * ACTIVITIES * STATUSES.len()];
        let combinations = ROWS
            .iter()
            .map(|row| (row.class, row.activity_id, row.activity_name))
            .chain(OcsfClass::ALL.into_iter().map(|class| (class, 99, "Other")));
        for (class, activity_id, activity_name) in combinations {
            for status in STATUSES {
                if let Some(i) = slot(class, activity_id, status) {
                    headers[i] = Some(Header::new(class, activity_id, activity_name, status));
                }
            }
        }
        headers
    })
}

/// The header of an event of `class`, `activity_id` (named `activity_name` in `type_name`)
/// and `status`: made once, except for a combination the mapping never produces.
pub(crate) fn header(
    class: OcsfClass,
    activity_id: u8,
    activity_name: &'static str,
    status: StatusRule,
) -> Cow<'static, Header> {
    match slot(class, activity_id, status).and_then(|i| headers()[i].as_ref()) {
        Some(header) if header.activity_name == activity_name => Cow::Borrowed(header),
        _ => Cow::Owned(Header::new(class, activity_id, activity_name, status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached header stands for every row of its class and activity: the table never
    /// names one activity two ways.
    #[test]
    fn one_activity_name_per_class_and_activity() {
        for a in ROWS {
            for b in ROWS {
                if (a.class, a.activity_id) == (b.class, b.activity_id) {
                    assert_eq!(a.activity_name, b.activity_name, "{a:?} / {b:?}");
                }
            }
        }
    }

    #[test]
    fn headers_are_the_members_in_order() {
        let h = header(OcsfClass::Authentication, 1, "Logon", StatusRule::Failure);
        assert!(matches!(h, Cow::Borrowed(_)));
        let text = format!("{}\"Logon\"{}}}", h.before, h.after);
        assert_eq!(
            text,
            r#"{"class_uid":3002,"class_name":"Authentication","category_uid":3,"category_name":"Identity & Access Management","activity_id":1,"activity_name":"Logon","type_uid":300201,"type_name":"Authentication: Logon","severity_id":1,"severity":"Informational","status_id":2,"status":"Failure"}"#
        );
        // A combination the mapping never makes is still written right.
        let h = header(OcsfClass::BaseEvent, 5, "Made Up", StatusRule::Success);
        assert!(matches!(h, Cow::Owned(_)));
        assert!(
            h.after
                .starts_with(r#","type_uid":5,"type_name":"Base Event: Made Up""#)
        );
    }
}
