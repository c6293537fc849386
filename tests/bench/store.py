#!/usr/bin/env python3
"""The local store's figures: per-alert time on a cache hit and in local
mode beside the bare start of the binary, a replay of a brute-force burst
against the MISP test server, and feed imports of 10,000 to 1,000,000
attributes with the lookup time at each size.

Usage: tests/bench/store.py [--runs N] [--sizes 10000,100000,1000000] [--json FILE]
(builds the release binaries first: cargo build --release --workspace)
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (ALERTS, BINARY, FEED, KEY, SERVER, Listener,  # noqa: E402
                   replay_file, run_case, start_server)

BRUTE_FORCE_IP = "198.51.100.23"


def uuid(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def generate_feed(path, attributes, per_event=1000):
    """A MISP-format feed of `attributes` domain attributes, 1,000 an
    event; the last attribute of the last event is the brute-force
    address, so a lookup has to find it among all the others."""
    os.makedirs(path, exist_ok=True)
    events = attributes // per_event
    manifest = {}
    for e in range(events):
        rows = []
        for a in range(per_event):
            last = e == events - 1 and a == per_event - 1
            kind, value = ("ip-src", BRUTE_FORCE_IP) if last else ("domain", f"host-{e}-{a}.feed.example")
            rows.append({"uuid": uuid(10_000_000 + e * per_event + a), "type": kind,
                         "category": "Network activity", "value": value, "to_ids": True,
                         "timestamp": "1760000000"})
        event = {"Event": {"uuid": uuid(e), "info": f"Generated event {e}", "threat_level_id": "2",
                           "date": "2026-10-01", "published": True, "Orgc": {"name": "Feed Org"},
                           "Tag": [{"name": "tlp:green"}], "Attribute": rows}}
        with open(os.path.join(path, f"{uuid(e)}.json"), "w") as f:
            json.dump(event, f)
        manifest[uuid(e)] = {"info": f"Generated event {e}"}
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def store_bytes(state):
    return sum(os.path.getsize(os.path.join(state, n)) for n in os.listdir(state)
               if n.startswith("custom-misp.db"))


def import_case(size, workdir, runs, queue):
    """Imports a generated feed of `size` attributes into a fresh store;
    returns the import's time and store size and the local lookup's
    per-alert figures at that size."""
    feed = os.path.join(workdir, f"feed-{size}")
    generate_feed(feed, size)
    state = os.path.join(workdir, f"state-{size}")
    options_path = os.path.join(workdir, f"import-{size}.options")
    with open(options_path, "w") as f:
        json.dump({"state_dir": state, "log_file": "-"}, f)
    start = time.perf_counter()
    done = subprocess.run([BINARY, "feed", "import", "--options", options_path, feed],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(feed)
    local = {"lookup": "local", "state_dir": state, "socket": queue.path, "flood_control": False,
             "log_file": os.path.join(workdir, "integrations.log")}
    lookup = run_case(f"local-{size}", os.path.join(ALERTS, "sshd-5712-bruteforce.json"), local,
                      workdir, runs, queue)
    lookup.pop("datagrams")
    return {
        "case": f"import-{size}",
        "attributes": size,
        "import_seconds": round(seconds, 2),
        "attributes_per_second": round(size / seconds),
        "store_mib": round(store_bytes(state) / 2**20, 1),
        "import_output": done.stdout.strip(),
        "lookup": lookup,
    }


def burst(path, alerts):
    """`alerts` brute-force alerts from one address on one agent, a second
    apart, as alerts.json lines."""
    with open(os.path.join(ALERTS, "sshd-5712-bruteforce.json")) as f:
        base = json.load(f)
    with open(path, "w") as f:
        for i in range(alerts):
            base["id"] = f"1791968054.{i}"
            minute, second = divmod(14 + i, 60)
            hour, minute = divmod(14 + minute, 60)
            base["timestamp"] = f"2026-10-14T{7 + hour:02d}:{minute:02d}:{second:02d}.381+0000"
            f.write(json.dumps(base) + "\n")


def replay_burst(name, options, workdir, alerts):
    path = os.path.join(workdir, "burst.json")
    burst(path, alerts)
    return replay_file(name, path, options, workdir, alerts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    for path in (BINARY, SERVER):
        if not os.path.exists(path):
            sys.exit(f"store bench: {path} missing: run cargo build --release --workspace")
    workdir = tempfile.mkdtemp(prefix="custom-misp-store-bench-")
    queue = Listener(os.path.join(workdir, "queue"))
    http, http_url, _ = start_server(False, workdir)
    results = []

    def report(result):
        results.append(result)
        print(json.dumps(result), flush=True)

    try:
        log = os.path.join(workdir, "integrations.log")
        common = {"socket": queue.path, "log_file": log, "flood_control": False,
                  "state_dir": os.path.join(workdir, "state")}
        bare = os.path.join(workdir, "bare.json")
        with open(bare, "w") as f:
            json.dump({"id": "1.1", "rule": {"id": "1002", "level": 2}, "agent": {"id": "000"}}, f)
        dropper = os.path.join(ALERTS, "sysmon-1-dropper.json")
        lookup = dict(common, api_key=KEY, misp_url=http_url, record=False, sightings=False,
                      event_context=False)
        local_state = os.path.join(workdir, "state-feed")
        with open(os.path.join(workdir, "feed.options"), "w") as f:
            json.dump({"state_dir": local_state, "log_file": "-"}, f)
        subprocess.run([BINARY, "feed", "import", "--options", os.path.join(workdir, "feed.options"),
                        FEED], check=True, capture_output=True)
        for name, alert, options in [
            ("start-only", bare, dict(common, feed=FEED)),
            ("cache-hit", dropper, lookup),
            ("local-mode", dropper, dict(common, lookup="local", state_dir=local_state)),
        ]:
            result = run_case(name, alert, options, workdir, args.runs, queue)
            result.pop("datagrams")
            report(result)
        state = lambda n: os.path.join(workdir, f"state-{n}")
        report(replay_burst(f"burst-{args.burst}-lookup-only",
                            dict(lookup, state_dir=state("burst-lookup")), workdir, args.burst))
        report(replay_burst(f"burst-{args.burst}-recorded",
                            dict(common, api_key=KEY, misp_url=http_url, flood_control=True,
                                 state_dir=state("burst-recorded")), workdir, args.burst))
        for size in [int(s) for s in args.sizes.split(",")]:
            report(import_case(size, workdir, args.runs, queue))
    finally:
        http.terminate()
        http.wait()
        queue.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
