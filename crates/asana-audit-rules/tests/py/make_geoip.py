"""Writes the MaxMind-format test databases of tests/data/ with mmdb-writer (PyPI), an
implementation of the format independent of the `maxminddb` crate that reads them.

    python tests/py/make_geoip.py tests/data

- `geo-city.mmdb`: an IPv6 database with IPv4 mapped in (as GeoLite2-City is), records shaped
  like GeoIP2 City ones (country, city, location with an accuracy radius);
- `geo-asn.mmdb`: an IPv4 database shaped like GeoLite2-ASN.

The networks are the mock server's (each first octet it draws IPv4 addresses from, as a /8), the
documentation ranges of RFC 5737 and RFC 3849, 198.18.0.0/24 (RFC 2544's range) with
coordinates off the globe, and nothing else, so an address outside them has
no record. The places are real cities with their coordinates; the ASNs are the private-use
range of RFC 6996.
"""

import sys
from pathlib import Path

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16, MmdbU32
from netaddr import IPSet

# The first octets the mock draws public IPv4 addresses from (asana-audit-log-mock, generate.rs).
MOCK_FIRST_OCTETS = [
    24, 31, 38, 45, 50, 63, 66, 71, 76, 81, 89, 91, 98, 104, 109, 134, 141, 151, 162, 176, 185,
    188, 193, 203, 212, 217,
]

# (ISO code, country, city, latitude, longitude, accuracy radius in km)
PLACES = [
    ("US", "United States", "New York", 40.7128, -74.0060, 20),
    ("DE", "Germany", "Berlin", 52.5200, 13.4050, 20),
    ("JP", "Japan", "Tokyo", 35.6762, 139.6503, 50),
    ("GB", "United Kingdom", "London", 51.5074, -0.1278, 10),
    ("BR", "Brazil", "Sao Paulo", -23.5505, -46.6333, 100),
    ("AU", "Australia", "Sydney", -33.8688, 151.2093, 50),
    ("FR", "France", "Paris", 48.8566, 2.3522, 20),
    ("IN", "India", "Mumbai", 19.0760, 72.8777, 200),
]

# Fixed networks the tests name: (network, place index, ASN).
FIXED = [
    ("192.0.2.0/24", 0, 64496),  # New York
    ("198.51.100.0/25", 1, 64497),  # Berlin
    ("198.51.100.128/25", 6, 64498),  # Paris
    ("2001:db8:1::/48", 2, 64499),  # Tokyo
    ("2001:db8:2::/48", 5, 64500),  # Sydney
]


def city_record(place):
    iso, country, city, lat, lon, radius = PLACES[place]
    return {
        "country": {"iso_code": iso, "names": {"en": country}},
        "registered_country": {"iso_code": iso, "names": {"en": country}},
        "city": {"names": {"en": city}},
        "location": {
            "latitude": MmdbF64(lat),
            "longitude": MmdbF64(lon),
            "accuracy_radius": MmdbU16(radius),
        },
    }


def asn_record(asn, name):
    return {
        "autonomous_system_number": MmdbU32(asn),
        "autonomous_system_organization": name,
    }


def main(out):
    out = Path(out)
    city = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="asana-audit-test-City",
        languages=["en"],
        description="asana-audit-log test city database",
    )
    asn = MMDBWriter(
        ip_version=4,
        database_type="asana-audit-test-ASN",
        languages=["en"],
        description="asana-audit-log test ASN database",
    )
    for i, octet in enumerate(MOCK_FIRST_OCTETS):
        network = IPSet([f"{octet}.0.0.0/8"])
        city.insert_network(network, city_record(i % len(PLACES)))
        asn.insert_network(network, asn_record(65000 + i, f"Example Transit {i}"))
    for network, place, number in FIXED:
        city.insert_network(IPSet([network]), city_record(place))
        if ":" not in network:
            asn.insert_network(IPSet([network]), asn_record(number, f"Example Net {number}"))
    # A record whose coordinates are off the globe: a country, and no place.
    off_globe = city_record(3)
    off_globe["location"]["latitude"] = MmdbF64(123.0)
    off_globe["location"]["longitude"] = MmdbF64(200.0)
    city.insert_network(IPSet(["198.18.0.0/24"]), off_globe)
    city.to_db_file(str(out / "geo-city.mmdb"))
    asn.to_db_file(str(out / "geo-asn.mmdb"))


if __name__ == "__main__":
    main(sys.argv[1])
