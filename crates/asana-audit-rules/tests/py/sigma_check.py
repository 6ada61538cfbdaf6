"""The shipped rule pack checked by pySigma, the reference implementation of Sigma.

    sigma_check.py check RULES_DIR DATA_DIR
        Loads every rule file, runs every validator that pySigma and pysigma-validators-sigmahq
        install, and converts each rule with the Splunk, Elasticsearch (Lucene and ES|QL), Kusto
        and DuckDB backends. Prints one JSON object; exits 1 if anything failed.
    sigma_check.py duckdb RULES_DIR EVENTS_NDJSON
        Runs the DuckDB backend's query of each detection rule over the events and prints
        {rule id: [gid, ...]} as JSON.

DATA_DIR holds the validators' data, which pySigma and the SigmaHQ validators download at run time
unless given a local file: SigmaHQ's field taxonomy and file-name prefixes, here with Asana's audit
log registered, an excerpt of ATT&CK with the tactics and techniques the pack tags, and an empty
D3FEND (the pack tags none).
"""

import json
import sys
import tempfile
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule


def load(rules_dir):
    files = sorted(Path(rules_dir).glob("*.yml"))
    return files, SigmaCollection.load_ruleset([str(f) for f in files])


def alone(rule):
    """The detection rule in a collection of its own, without the correlations that refer to it
    (a backend converts a rule that a correlation refers to only as part of the correlation)."""
    return SigmaCollection([SigmaRule.from_dict(rule.to_dict())])


def point_validators_at(data_dir, cache_dir):
    from sigma.data import mitre_attack, mitre_d3fend
    from sigma.validators.sigmahq.data import (
        data_filename,
        data_taxonomy,
        data_windows_eventid,
        data_windows_provider,
    )

    for module, name in [
        (data_taxonomy, "taxonomy.json"),
        (data_filename, "filename.json"),
        (data_windows_eventid, "empty.json"),
        (data_windows_provider, "empty.json"),
    ]:
        module.set_cache_dir(cache_dir)
        module.set_url(str(Path(data_dir) / name))
    mitre_attack.set_cache_dir(cache_dir)
    mitre_attack.set_url(str(Path(data_dir) / "attack-excerpt.json"))
    mitre_d3fend.set_cache_dir(cache_dir)
    mitre_d3fend.set_url(str(Path(data_dir) / "d3fend-empty.json"))


def check(rules_dir, data_dir):
    from sigma.backends.elasticsearch import ESQLBackend, LuceneBackend
    from sigma.backends.kusto import KustoBackend
    from sigma.backends.splunk import SplunkBackend
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator
    from sigma_backend_duckdb import DuckDBBackend

    files, collection = load(rules_dir)
    report = {"files": len(files), "rules": [], "errors": [], "issues": [], "queries": {}}
    for rule in collection.rules:
        report["rules"].append(
            {
                "id": str(rule.id),
                "title": rule.title,
                "correlation": isinstance(rule, SigmaCorrelationRule),
                "file": str(rule.source.path.name) if rule.source and rule.source.path else None,
            }
        )
        for error in rule.errors:
            report["errors"].append(f"{rule.title}: {error}")

    with tempfile.TemporaryDirectory() as cache_dir:
        point_validators_at(data_dir, cache_dir)
        validators = InstalledSigmaPlugins.autodiscover().validators
        report["validators"] = sorted(validators)
        for issue in SigmaValidator(validators.values()).validate_rules(collection):
            titles = [rule.title for rule in issue.rules]
            report["issues"].append(f"{type(issue).__name__} ({issue.severity}): {titles}: {issue}")

    # Backends that convert correlation rules get the whole collection (correlations and the rules
    # they refer to); the others get each detection rule alone.
    backends = {
        "splunk": (SplunkBackend, True),
        "esql": (ESQLBackend, True),
        "duckdb": (DuckDBBackend, True),
        "lucene": (LuceneBackend, False),
        "kusto": (KustoBackend, False),
    }
    for name, (backend, correlations) in backends.items():
        queries = []
        try:
            if correlations:
                queries = backend().convert(collection)
            else:
                for rule in collection.rules:
                    if isinstance(rule, SigmaRule):
                        queries += backend().convert(alone(rule))
        except Exception as e:  # noqa: BLE001 - every failure is reported with its backend
            report["errors"].append(f"{name}: {type(e).__name__}: {e}")
        report["queries"][name] = [str(q) for q in queries]

    print(json.dumps(report, indent=1))
    return 1 if report["errors"] or report["issues"] else 0


def flatten(value, prefix, out):
    """Events as one row of dotted columns, the field names the rules (and the backend) use."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}{key}.", out)
    elif isinstance(value, bool):
        out[prefix[:-1]] = "true" if value else "false"
    elif value is None or isinstance(value, list):
        out[prefix[:-1]] = None
    else:
        out[prefix[:-1]] = str(value)


def duckdb_matches(rules_dir, events_path):
    import duckdb
    from sigma_backend_duckdb import DuckDBBackend

    rows = []
    for line in Path(events_path).read_text().splitlines():
        row = {}
        flatten(json.loads(line), "", row)
        rows.append(row)
    columns = sorted({column for row in rows for column in row})
    db = duckdb.connect()
    quoted = ", ".join(f'"{c}" VARCHAR' for c in columns)
    db.execute(f"CREATE TABLE logs ({quoted})")
    placeholders = ", ".join("?" for _ in columns)
    db.executemany(
        f"INSERT INTO logs VALUES ({placeholders})",
        [[row.get(c) for c in columns] for row in rows],
    )

    _, collection = load(rules_dir)
    result = {}
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule):
            continue
        (query,) = DuckDBBackend().convert(alone(rule))
        # The query is "SELECT * FROM logs WHERE ..."; only the gids are wanted.
        gids = db.execute(query.replace("SELECT *", "SELECT gid", 1)).fetchall()
        result[str(rule.id)] = {"query": query, "gids": sorted(g for (g,) in gids)}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "check":
        sys.exit(check(*args))
    if command == "duckdb":
        sys.exit(duckdb_matches(*args))
    sys.exit(f"unknown command {command}")
