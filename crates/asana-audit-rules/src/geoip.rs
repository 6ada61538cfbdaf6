//! GeoIP: where an event's client IP address is ([`GeoIp`], from MaxMind-format databases the
//! user supplies), put on alerts, and the two detectors Sigma cannot express because they
//! remember each user's logins: a login from a country the user has not logged in from lately,
//! and impossible travel between a user's consecutive logins.
//!
//! Their memory ([`GeoState`]) is plain data that serializes, kept with the checkpoint, and
//! bounded: a user's countries are forgotten once not seen for the new-country period, a user
//! not seen for as long as either detector can use a login (that period, or the time a trip
//! across the world takes at the travel speed, whichever is longer) is forgotten whole, and
//! past [`Options::max_geo_users`] users the least recently seen are forgotten first.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::Options;
use crate::alert::Alert;
use crate::error::Error;
use crate::rule::Level;

/// The event type of a successful login: the only events the GeoIP detectors look at.
const LOGIN: &str = "user_login_succeeded";

/// A GeoIP detector as its alerts name it, as a rule would be
/// ([`RuleSet::geo_detectors`](crate::RuleSet::geo_detectors)).
#[derive(Debug)]
#[non_exhaustive]
pub struct GeoDetector {
    /// Its key: a UUID of its own, stable, in [`Alert::rule`].
    pub key: &'static str,
    /// Its title, in [`Alert::title`].
    pub title: &'static str,
    /// Its level.
    pub level: Level,
    /// What it finds, and why it matters.
    pub description: &'static str,
}

impl GeoDetector {
    /// Its condition in words under `options`, e.g. `faster than 1000 km/h between consecutive
    /// logins`; `None` when `options` turn it off.
    pub fn threshold(&self, options: &Options) -> Option<String> {
        if self.key == NEW_COUNTRY.key {
            let secs = options.new_country_window.as_secs();
            let period = match secs {
                0 => return None,
                s if s % 86_400 == 0 => format!("{} days", s / 86_400),
                s => format!("{} hours", s.div_ceil(3600)),
            };
            Some(format!("a country not seen for the user within {period}"))
        } else {
            let kmh = options.travel_speed_kmh;
            (kmh > 0).then(|| format!("faster than {kmh} km/h between consecutive logins"))
        }
    }
}

/// A user's login from a country not seen for that user within the period.
pub(crate) const NEW_COUNTRY: GeoDetector = GeoDetector {
    key: "8b0f6a52-3c4e-4d1b-9f7e-2a6c5d9e1b30",
    title: "Asana Login From a Country New for the User",
    level: Level::Medium,
    description: "A user logged in from a country none of their logins came from within the \
                  period: travel, a VPN, or someone else holding their credentials.",
};

/// Consecutive logins of a user too far apart for the time between them.
pub(crate) const IMPOSSIBLE_TRAVEL: GeoDetector = GeoDetector {
    key: "c4e2d7a1-5b3f-4e8c-a1d6-7f9b0e3c2a54",
    title: "Asana Impossible Travel Between Logins",
    level: Level::High,
    description: "Two consecutive logins of a user came from places farther apart than one \
                  could travel in the time between: a VPN or proxy, or two people using one \
                  account.",
};

/// Both GeoIP detectors.
pub(crate) const DETECTORS: [GeoDetector; 2] = [NEW_COUNTRY, IMPOSSIBLE_TRAVEL];

/// MaxMind-format databases (GeoIP2 or GeoLite2 City, Country, ASN, or any database with
/// records of that shape), read into memory once; cheap to clone. A lookup asks each database
/// in the order given and keeps the first answer for each fact, so a City database and an ASN
/// database together give country, place and network.
#[derive(Clone)]
pub struct GeoIp {
    databases: Arc<Vec<Database>>,
}

struct Database {
    path: PathBuf,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.databases.iter().map(|db| db.path.display()))
            .finish()
    }
}

impl GeoIp {
    /// Opens the databases at `paths`. A file that cannot be read, or is not a MaxMind DB, is
    /// an error naming it.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp, Error> {
        if paths.is_empty() {
            return Err(Error::Unreadable {
                path: "(no file)".to_string(),
                message: "no GeoIP database given".to_string(),
            });
        }
        let databases = paths
            .iter()
            .map(|path| {
                let reader =
                    maxminddb::Reader::open_readfile(path).map_err(|e| Error::Unreadable {
                        path: path.display().to_string(),
                        message: format!("not a readable MaxMind DB (GeoIP2/GeoLite2): {e}"),
                    })?;
                Ok(Database {
                    path: path.clone(),
                    reader,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(GeoIp {
            databases: Arc::new(databases),
        })
    }

    /// Each database: its file and the type it declares (e.g. `GeoLite2-City`).
    pub fn databases(&self) -> impl Iterator<Item = (&Path, &str)> {
        self.databases.iter().map(|db| {
            (
                db.path.as_path(),
                db.reader.metadata().database_type.as_str(),
            )
        })
    }

    /// What the databases know of `ip` (an IPv4 or IPv6 address as text); `None` when it is not
    /// an address or no database has a record for it.
    pub fn lookup(&self, ip: &str) -> Option<Place> {
        // An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is looked up as IPv4, which an
        // IPv4-only database has.
        let address = ip.trim().parse::<IpAddr>().ok()?.to_canonical();
        let mut place = Place::default();
        for db in self.databases.iter() {
            // An IPv6 address in an IPv4-only database is an error: no record there.
            let Ok(Some(record)) = db
                .reader
                .lookup(address)
                .and_then(|found| found.decode::<Record>())
            else {
                continue;
            };
            place.fill(record);
        }
        (place != Place::default()).then_some(place)
    }
}

/// What a GeoIP database says of one address (each fact only when a database has it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Place {
    /// The country's ISO 3166-1 code, e.g. `DE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The country's English name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// The city's English name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// How far from the point the address may be, in km (the database's `accuracy_radius`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u32>,
    /// The autonomous system's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The autonomous system's organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_organization: Option<String>,
}

impl Place {
    /// Takes from `record` the facts this place does not have yet.
    fn fill(&mut self, record: Record) {
        let country = record.country.unwrap_or_default();
        fill(&mut self.country, country.iso_code);
        fill(&mut self.country_name, country.names.en);
        fill(&mut self.city, record.city.and_then(|c| c.names.en));
        let location = record.location.unwrap_or_default();
        // Coordinates off the globe (or not numbers) are no place.
        if self.latitude.is_none()
            && let (Some(lat), Some(lon)) = (location.latitude, location.longitude)
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon)
        {
            self.latitude = Some(lat);
            self.longitude = Some(lon);
            self.accuracy_km = location.accuracy_radius.map(u32::from);
        }
        fill(&mut self.asn, record.autonomous_system_number);
        fill(
            &mut self.as_organization,
            record.autonomous_system_organization,
        );
    }

    fn point(&self) -> Option<(f64, f64)> {
        Some((self.latitude?, self.longitude?))
    }
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// The part of a GeoIP2/GeoLite2 record this crate reads (City, Country and ASN databases all
/// decode into it; what a database lacks stays empty).
#[derive(Default, Deserialize)]
struct Record {
    country: Option<Named>,
    city: Option<Named>,
    location: Option<Location>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

#[derive(Default, Deserialize)]
struct Named {
    iso_code: Option<String>,
    #[serde(default)]
    names: Names,
}

#[derive(Default, Deserialize)]
struct Names {
    en: Option<String>,
}

#[derive(Default, Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_radius: Option<u16>,
}

/// What a GeoIP detector found, beyond the login it alerts on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GeoFinding {
    /// The login's country is not among those the user logged in from in the last `days`
    /// days (`seen`, sorted).
    NewCountry {
        /// The login's country (ISO code).
        country: String,
        /// The countries the user logged in from within the period.
        seen: Vec<String>,
        /// The period, in days.
        days: u32,
    },
    /// The user's previous login was too far away to travel from in the time between.
    ImpossibleTravel {
        /// The previous login.
        from: Login,
        /// The distance between the two places less both accuracy radii, km.
        km: f64,
        /// The time between the logins, hours.
        hours: f64,
        /// The speed the travel would take, km/h (`null` for two logins at the same instant).
        kmh: Option<f64>,
    },
}

/// A login an impossible-travel finding names: the user's previous one, placed by the
/// databases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Login {
    /// The login event's `gid`.
    pub gid: String,
    /// Its `created_at`.
    pub created_at: DateTime<Utc>,
    /// Its `context.client_ip_address`.
    pub ip: String,
    /// Its country (ISO code), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Where it was: latitude and longitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
    /// The place's accuracy radius, km (0 when the database gives none).
    #[serde(default)]
    pub accuracy_km: u32,
}

impl Login {
    /// The login `gid` at `at` from `ip`, if `place` has coordinates.
    fn placed(gid: &str, at: DateTime<Utc>, ip: &str, place: &Place) -> Option<Login> {
        let (latitude, longitude) = place.point()?;
        Some(Login {
            gid: gid.to_string(),
            created_at: at,
            ip: ip.to_string(),
            country: place.country.clone(),
            latitude,
            longitude,
            accuracy_km: place.accuracy_km.unwrap_or(0),
        })
    }
}

fn from_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// The GeoIP detectors' memory of users' logins: plain data that serializes, to keep in a
/// checkpoint beside the [`CorrelationState`](crate::CorrelationState).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoState {
    /// Per user (the actor's `gid`).
    users: BTreeMap<String, UserLogins>,
    /// When the state was last swept of what is too old to matter (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    swept_ms: Option<i64>,
    /// The newest login's `created_at` seen (ms since the epoch): what the sweep measures
    /// age against, so that a late login moves nothing.
    #[serde(default)]
    newest_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct UserLogins {
    /// The newest login's `created_at`, ms since the epoch.
    seen_ms: i64,
    /// Per country (ISO code): its newest login, ms since the epoch.
    countries: BTreeMap<String, i64>,
    /// The newest login with a location: its `created_at` (ms since the epoch), `gid` and
    /// address (placed again from the address when compared: half the size of keeping the
    /// place, for a memory saved with every checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<(i64, String, String)>,
}

impl GeoState {
    /// How many users are remembered.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Looks at one event: a successful login by a user, from an address `geo` places, is
    /// remembered, and the findings it raises are returned (at most one of each detector).
    pub(crate) fn login(
        &mut self,
        geo: &GeoIp,
        options: &Options,
        event: &Json,
        gid: &str,
        at: DateTime<Utc>,
    ) -> Vec<(&'static GeoDetector, BTreeMap<String, String>, GeoFinding)> {
        let mut found = Vec::new();
        if event.get("event_type").and_then(Json::as_str) != Some(LOGIN) {
            return found;
        }
        let actor = event.get("actor");
        let user = actor
            .filter(|a| a.get("actor_type").and_then(Json::as_str) == Some("user"))
            .and_then(|a| a.get("gid"))
            .and_then(Json::as_str);
        let (Some(user), Some(ip)) = (user, client_ip(event)) else {
            return found;
        };
        // Neither detector can use an address without a country or a place (e.g. in an ASN
        // database alone).
        let Some(place) = geo
            .lookup(ip)
            .filter(|p| p.country.is_some() || p.point().is_some())
        else {
            return found;
        };
        let at_ms = at.timestamp_millis();
        let window_ms = crate::millis(options.new_country_window);
        self.newest_ms = self.newest_ms.max(at_ms);
        let entry = self.users.entry(user.to_string()).or_default();
        // A login older than the user's newest one seen arrives late: it is remembered (its
        // country), but judged by neither detector, so that what alerts does not depend on
        // the order logins arrive in, only on their times.
        let late = at_ms < entry.seen_ms;
        entry.seen_ms = entry.seen_ms.max(at_ms);
        let group = |extra: Vec<(&str, String)>| {
            let mut group = BTreeMap::from([("actor.gid".to_string(), user.to_string())]);
            group.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
            group
        };

        if let Some(country) = &place.country {
            let newest = entry.seen_ms;
            entry
                .countries
                .retain(|_, last| last.saturating_add(window_ms) > newest);
            // A user with no login within the period (new, or back after it) has nothing to
            // compare with: this login starts what is known of them.
            let known = !entry.countries.is_empty();
            if window_ms > 0 && known && !late && !entry.countries.contains_key(country) {
                found.push((
                    &NEW_COUNTRY,
                    group(vec![("geoip.country", country.clone())]),
                    GeoFinding::NewCountry {
                        country: country.clone(),
                        seen: entry.countries.keys().cloned().collect(),
                        days: u32::try_from(options.new_country_window.as_secs() / 86_400)
                            .unwrap_or(u32::MAX),
                    },
                ));
            }
            let newest = entry.countries.entry(country.clone()).or_insert(at_ms);
            *newest = (*newest).max(at_ms);
        }

        if let Some(login) = Login::placed(gid, at, ip, &place) {
            match &entry.last {
                // Travel is judged between consecutive logins: a late one is neither compared
                // nor remembered.
                Some((last_ms, ..)) if *last_ms > at_ms => {}
                Some((last_ms, last_gid, last_ip)) => {
                    let last = from_ms(*last_ms).and_then(|last_at| {
                        Login::placed(last_gid, last_at, last_ip, &geo.lookup(last_ip)?)
                    });
                    if let Some((from, finding)) = last.and_then(|last| {
                        travel(&last, &login, options.travel_speed_kmh).map(|f| (last, f))
                    }) {
                        let country = |c: &Option<String>| c.clone().unwrap_or("-".to_string());
                        found.push((
                            &IMPOSSIBLE_TRAVEL,
                            group(vec![
                                ("geoip.from_country", country(&from.country)),
                                ("geoip.country", country(&login.country)),
                            ]),
                            finding,
                        ));
                    }
                    entry.last = Some((at_ms, login.gid, login.ip));
                }
                None => entry.last = Some((at_ms, login.gid, login.ip)),
            }
        }
        self.sweep(window_ms, options);
        found
    }

    /// Forgets users neither detector can use a login of any more (checked once an hour of
    /// event time, measured from the newest login seen), and past `max_geo_users` the least
    /// recently seen.
    fn sweep(&mut self, window_ms: i64, options: &Options) {
        const HOUR_MS: i64 = 3_600_000;
        let now_ms = self.newest_ms;
        if self
            .swept_ms
            .is_none_or(|swept| now_ms.saturating_sub(swept) >= HOUR_MS)
        {
            // No two places are farther apart than half the Earth's circumference: logins
            // further apart in time than that takes at the travel speed are never impossible
            // travel.
            let travel_ms = match options.travel_speed_kmh {
                0 => 0,
                kmh => (HALF_CIRCUMFERENCE_KM / f64::from(kmh) * 3_600_000.0).ceil() as i64,
            };
            let horizon = now_ms.saturating_sub(window_ms.max(travel_ms));
            self.users.retain(|_, user| user.seen_ms > horizon);
            self.swept_ms = Some(now_ms);
        }
        let max_users = options.max_geo_users;
        if self.users.len() > max_users {
            // Forget a tenth more than needed at once, so that the scan is not made per login;
            // the least recently seen first, ties by gid, so the outcome does not depend on
            // when this runs.
            let excess = (self.users.len() - max_users + max_users / 10).min(self.users.len());
            let mut by_age: Vec<(i64, String)> = self
                .users
                .iter()
                .map(|(gid, user)| (user.seen_ms, gid.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, gid) in by_age.into_iter().take(excess) {
                self.users.remove(&gid);
            }
        }
    }
}

/// The impossible-travel finding between `from` and `to` (consecutive logins), if the distance
/// less both accuracy radii cannot be covered in the time between at `max_kmh`.
fn travel(from: &Login, to: &Login, max_kmh: u32) -> Option<GeoFinding> {
    if max_kmh == 0 {
        return None;
    }
    let km = distance_km((from.latitude, from.longitude), (to.latitude, to.longitude))
        - f64::from(from.accuracy_km)
        - f64::from(to.accuracy_km);
    if km <= 0.0 {
        return None;
    }
    let ms = (to.created_at - from.created_at).num_milliseconds();
    let hours = ms as f64 / 3_600_000.0;
    let kmh = (ms > 0).then(|| km / hours);
    if kmh.is_some_and(|kmh| kmh <= f64::from(max_kmh)) {
        return None;
    }
    Some(GeoFinding::ImpossibleTravel {
        from: from.clone(),
        km: round1(km),
        hours: (hours * 1000.0).round() / 1000.0,
        kmh: kmh.map(round1),
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The mean radius of the Earth, km.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// The farthest two places on Earth are apart, km.
const HALF_CIRCUMFERENCE_KM: f64 = EARTH_RADIUS_KM * std::f64::consts::PI;

/// The great-circle distance between two points (latitude, longitude in degrees), km.
fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// An event's `context.client_ip_address`.
fn client_ip(event: &Json) -> Option<&str> {
    event.get("context")?.get("client_ip_address")?.as_str()
}

/// Puts on `alert` what `geo` knows of its events' client IP addresses.
pub(crate) fn enrich(alert: &mut Alert, geo: &GeoIp) {
    for event in &alert.events {
        let Some(ip) = client_ip(event) else {
            continue;
        };
        if alert.geoip.contains_key(ip) {
            continue;
        }
        if let Some(place) = geo.lookup(ip) {
            alert.geoip.insert(ip.to_string(), place);
        }
    }
    if let Some(GeoFinding::ImpossibleTravel { from, .. }) = &alert.geo
        && !alert.geoip.contains_key(&from.ip)
        && let Some(place) = geo.lookup(&from.ip)
    {
        alert.geoip.insert(from.ip.clone(), place);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circle_kilometres() {
        let berlin = (52.52, 13.405);
        let new_york = (40.7128, -74.006);
        let d = distance_km(berlin, new_york);
        assert!((d - 6385.0).abs() < 15.0, "{d}");
        assert_eq!(distance_km(berlin, berlin), 0.0);
    }
}
