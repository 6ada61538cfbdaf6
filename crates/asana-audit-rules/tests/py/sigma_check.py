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


def spark_matches(rules_dir, events_path):
    """The gids each detection rule's Databricks (Spark SQL) query matches when Apache Spark, in
    local mode, runs it over a Parquet file of the events with the archive's columns (`gid`, and
    `event_json`, the event as received), parsed with a schema of the fields the rules name."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, from_json
    from pyspark.sql.types import StringType, StructField, StructType
    from sigma.backends.databricks import DatabricksBackend

    lines = Path(events_path).read_text().splitlines()
    parquet = Path(events_path).with_suffix(".parquet")
    pq.write_table(
        pa.table({"gid": [json.loads(line)["gid"] for line in lines], "event_json": lines}),
        parquet,
    )

    _, collection = load(rules_dir)
    rules = [rule for rule in collection.rules if isinstance(rule, SigmaRule)]
    # Every field a rule names, as nested structs of strings (a field no event has is null).
    tree = {"gid": {}}
    for rule in rules:
        for detection in rule.detection.detections.values():
            for item in iterate_items(detection):
                node = tree
                for part in item.field.split("."):
                    node = node.setdefault(part, {})

    def schema(node):
        return StructType(
            [
                StructField(name, schema(child) if child else StringType(), True)
                for name, child in sorted(node.items())
            ]
        )

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("sigma-check")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        events = spark.read.parquet(str(parquet)).select(
            from_json(col("event_json"), schema(tree)).alias("event")
        )
        events.select("event.*").createOrReplaceTempView("events")
        result = {}
        for rule in rules:
            (query,) = DatabricksBackend().convert(alone(rule))
            gids = spark.sql(f"SELECT gid FROM events WHERE {query}").collect()
            result[str(rule.id)] = {"query": query, "gids": sorted(row.gid for row in gids)}
    finally:
        spark.stop()
    print(json.dumps(result, indent=1))
    return 0


def iterate_items(detection):
    """The detection items of a detection, however nested."""
    for item in detection.detection_items:
        if hasattr(item, "detection_items"):
            yield from iterate_items(item)
        else:
            yield item


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "check":
        sys.exit(check(*args))
    if command == "duckdb":
        sys.exit(duckdb_matches(*args))
    if command == "spark":
        sys.exit(spark_matches(*args))
    sys.exit(f"unknown command {command}")
