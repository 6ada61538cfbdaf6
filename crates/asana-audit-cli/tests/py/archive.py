"""Reads back what `asana-audit` wrote, with readers that are not ours (DuckDB, pyarrow, boto3).

Used by tests/archive.rs:

    archive.py create-bucket ENDPOINT BUCKET
    archive.py create-container ENDPOINT CONTAINER   # in Azurite, at its blob ENDPOINT
    archive.py dump TARGET          # TARGET: a directory, s3://bucket/prefix (AWS_* in env) or
                                    # az://container/prefix (AZURITE_BLOB_STORAGE_URL in env)
    archive.py download URL DIR     # copies every object under s3://bucket/prefix into DIR
    archive.py put-empty URL        # writes an empty object at s3://bucket/key
    archive.py query DIR SQL        # runs SQL in DuckDB in DIR, prints the rows as JSON
    archive.py ocsf DIR             # OCSF events of an archive (NDJSON or Parquet), per file
    archive.py spark DIR [DIR...]   # Apache Spark (local mode) reads each partitioned Parquet tree

`dump` prints one JSON object: the committed files in name order, every event's exact JSON
text in file order, the Parquet schema as pyarrow reads it, and what DuckDB counts over the
Hive-partitioned files.
"""

import gzip
import json
import os
import sys
import tempfile

STAGING = "_asana_audit_staging"


def s3_client():
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def download(url, into):
    """Copies every object under s3://bucket/prefix into the folder `into`."""
    import botocore.exceptions

    bucket, _, prefix = url[len("s3://"):].partition("/")
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(prefix):].lstrip("/") if prefix else key
            target = os.path.join(into, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            try:
                client.download_file(bucket, key, target)
            except botocore.exceptions.ClientError as error:
                # Read while a run works: a file listed a moment ago may have been taken back
                # since (a killed run's unfinished commit, undone by its successor).
                if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                    raise


# Azurite's well-known development account (the same for every installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_client(endpoint):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient(
        account_url=f"{endpoint.rstrip('/')}/{AZURITE_ACCOUNT}",
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
    )


def download_azure(url, into):
    """Copies every blob under az://container/prefix into the folder `into`."""
    container, _, prefix = url[len("az://"):].partition("/")
    client = azurite_client(os.environ["AZURITE_BLOB_STORAGE_URL"])
    blobs = client.get_container_client(container)
    for blob in blobs.list_blobs(name_starts_with=prefix):
        relative = blob.name[len(prefix):].lstrip("/") if prefix else blob.name
        target = os.path.join(into, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as out:
            out.write(blobs.download_blob(blob.name).readall())


def committed_files(root):
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != STAGING]
        for name in names:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def lines_of(path):
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).column("event_json").to_pylist()
    if path.endswith(".ndjson.gz"):
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
            text = f.read()
    elif path.endswith(".ndjson.zst"):
        import pyarrow as pa

        with pa.input_stream(path, compression="zstd") as f:
            text = f.read().decode("utf-8")
    else:
        with open(path, encoding="utf-8", newline="\n") as f:
            text = f.read()
    assert text == "" or text.endswith("\n"), path
    return text.split("\n")[:-1]


def duckdb_view(root, files):
    import duckdb

    # A query past two seconds (a loaded machine) would print a progress bar into stdout.
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if any(f.endswith(".parquet") for f in files):
        source = f"read_parquet('{root}/**/*.parquet', hive_partitioning = true, filename = true, file_row_number = true)"
        order = "filename, file_row_number"
    else:
        ext = next(e for e in ("ndjson.gz", "ndjson.zst", "ndjson") if files[0].endswith("." + e))
        source = (
            f"read_json('{root}/**/*.{ext}', format = 'newline_delimited', hive_partitioning = true, "
            "filename = true, columns = {'gid': 'VARCHAR', 'created_at': 'VARCHAR'})"
        )
        order = "filename, created_at, gid"
    return con, source, order


def dump(target):
    with tempfile.TemporaryDirectory() as tmp:
        root = target
        if target.startswith("s3://"):
            root = tmp
            download(target, root)
        elif target.startswith("az://"):
            root = tmp
            download_azure(target, root)
        files = committed_files(root)
        events = []
        for name in files:
            events.extend(lines_of(os.path.join(root, name)))
        out = {"files": files, "events": events, "schema": None, "duckdb": None}
        if files and files[0].endswith(".parquet"):
            import pyarrow.parquet as pq

            schema = pq.read_schema(os.path.join(root, files[0]))
            out["schema"] = [[f.name, str(f.type), f.nullable] for f in schema]
        if files:
            con, source, order = duckdb_view(root, files)
            count, distinct, days = con.sql(
                f"SELECT count(*), count(DISTINCT gid), count(DISTINCT event_date) FROM {source}"
            ).fetchall()[0]
            gids = [row[0] for row in con.sql(f"SELECT gid FROM {source} ORDER BY {order}").fetchall()]
            out["duckdb"] = {"count": count, "distinct_gids": distinct, "days": days, "gids": gids}
        print(json.dumps(out))


def ocsf(root):
    """Every OCSF event under `root`: NDJSON lines parsed, Parquet rows read by pyarrow (with
    the `ocsf.version` of the file's schema)."""
    import pyarrow.parquet as pq

    out = []
    for name in committed_files(root):
        path = os.path.join(root, name)
        schema_version = None
        if name.endswith(".parquet"):
            table = pq.read_table(path)
            rows = table.to_pylist()
            schema_version = (table.schema.metadata or {}).get(b"ocsf.version", b"").decode()
        else:
            rows = [json.loads(line) for line in lines_of(path)]
        for row in rows:
            out.append({
                "file": name,
                "version": row["metadata"]["version"],
                "schema_version": schema_version,
                "class_uid": row["class_uid"],
                "category_uid": row["category_uid"],
                "activity_id": row["activity_id"],
                "type_uid": row["type_uid"],
                "time": row["time"],
                "uid": row["metadata"]["uid"],
                "event_code": row["metadata"]["event_code"],
                "tenant_uid": row["metadata"].get("tenant_uid"),
            })
    print(json.dumps(out))


def spark(roots):
    """Apache Spark, a distributed query engine, in local mode on loopback, reads each folder
    of partitioned Parquet as one table (partition discovery: `event_date=`, `event_hour=`,
    `region=`, `accountId=`, `eventDay=`; `_`-prefixed staging folders skipped, as Spark
    does), with every file's schema merged. Prints, per folder, the table's column types, its
    row count and its rows, oldest first: gid and exact JSON, or for OCSF `metadata.uid` and
    `class_uid`."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("asana-audit-archive-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    out = []
    for root in roots:
        table = session.read.option("mergeSchema", "true").parquet(root)
        table.createOrReplaceTempView("archive")
        columns = dict(table.dtypes)
        if "event_json" in columns:
            query = "SELECT gid, event_json FROM archive ORDER BY created_at, gid"
        else:
            query = "SELECT metadata.uid, class_uid FROM archive ORDER BY time, metadata.uid"
        rows = [[row[0], row[1]] for row in session.sql(query).collect()]
        out.append({"root": root, "columns": columns, "count": table.count(), "rows": rows})
    session.stop()
    print(json.dumps(out))


def main():
    command = sys.argv[1]
    if command == "create-bucket":
        endpoint, bucket = sys.argv[2], sys.argv[3]
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        s3_client().create_bucket(Bucket=bucket)
    elif command == "create-container":
        endpoint, container = sys.argv[2], sys.argv[3]
        azurite_client(endpoint).create_container(container)
    elif command == "dump":
        dump(sys.argv[2])
    elif command == "ocsf":
        ocsf(sys.argv[2])
    elif command == "download":
        download(sys.argv[2], sys.argv[3])
        print("null")
    elif command == "put-empty":
        bucket, _, key = sys.argv[2][len("s3://"):].partition("/")
        s3_client().put_object(Bucket=bucket, Key=key, Body=b"")
        print("null")
    elif command == "spark":
        spark(sys.argv[2:])
    elif command == "query":
        import duckdb

        os.chdir(sys.argv[2])
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        rows = con.sql(sys.argv[3]).fetchall()
        print(json.dumps(rows, default=str))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
