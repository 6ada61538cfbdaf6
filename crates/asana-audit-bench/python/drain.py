#!/usr/bin/env python3
"""The `python-asana` contender of `cargo xtask bench`: Asana's official Python client
(`asana` 5.4.0 from PyPI) drains one workspace's audit log.

Usage (the token comes from ASANA_ACCESS_TOKEN):

    drain.py --base-url http://127.0.0.1:PORT/api/1.0 --workspace GID --events N [--page-size 100]

Prints one JSON line in the shape of the Rust contenders: contender, events, seconds (the
drain alone, after imports and client set-up), and nulls for what this client does not show.

The official iterator asks for the next page for as long as the response carries
`next_page`, and the audit log always carries it, so the drain only ends because `item_limit`
is set to the expected event count. If the server has fewer events the iterator would poll
forever; `--timeout` makes that an error instead.
"""

import argparse
import importlib.metadata
import json
import os
import signal
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--events", type=int, required=True, help="expected events (item_limit)")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds before giving up")
    return parser.parse_args()


def on_timeout(_signum, _frame):
    sys.exit("drain.py: timed out: the iterator did not reach the expected event count")


def peak_rss_kb():
    """This process's peak resident set size in KiB (VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    args = parse_args()
    token = os.environ.get("ASANA_ACCESS_TOKEN", "").strip()
    if not token:
        sys.exit("drain.py: set ASANA_ACCESS_TOKEN")
    import asana  # imported late so that --help works without the package

    config = asana.Configuration()
    config.host = args.base_url
    config.access_token = token
    api = asana.AuditLogAPIApi(asana.ApiClient(config))

    signal.signal(signal.SIGALRM, on_timeout)
    signal.alarm(args.timeout)
    events = 0
    started = time.perf_counter()
    pages = api.get_audit_log_events(
        args.workspace, {"limit": args.page_size}, item_limit=args.events
    )
    for _event in pages:
        events += 1
    seconds = time.perf_counter() - started
    signal.alarm(0)

    print(json.dumps({
        "contender": "python-asana",
        "client_version": importlib.metadata.version("asana"),
        "events": events,
        "page_bytes": None,
        "event_bytes": None,
        "requests": None,
        "seconds": seconds,
        "vm_hwm_kb": peak_rss_kb(),
    }))
    return 0 if events == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
