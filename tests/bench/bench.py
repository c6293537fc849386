#!/usr/bin/env python3
"""Per-alert latency and memory of custom-misp, run as integratord runs it.

For each case the release binary is started RUNS times with integratord's
argv (alert temp file, empty key and URL, options file, timeout, retries and
the redirect string), against the MISP test server over HTTP or HTTPS and a
real Unix datagram socket. Wall time is measured around each process from
spawn to exit; peak RSS comes from the kernel's rusage of the child.

Usage: tests/bench/bench.py [--runs N] [--json FILE]
(builds the release binaries first: cargo build --release --workspace)
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "custom-misp")
SERVER = os.path.join(ROOT, "target", "release", "misp-test-server")
FEED = os.path.join(ROOT, "integration", "feed")
ALERTS = os.path.join(ROOT, "integration", "sample-alerts")
KEY = "wazuhMispTestKey0123456789abcdefghijKLMN"


def start_server(tls, workdir):
    """Starts the MISP test server seeded with the bundled feed; returns
    (process, url, ca file or None)."""
    args = [SERVER, "--listen", "127.0.0.1:0", "--feed", FEED, "--api-key", KEY]
    ca = None
    if tls:
        ca = os.path.join(workdir, "ca.pem")
        args += ["--tls", "valid", "--ca-out", ca]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("url="):
        proc.kill()
        sys.exit(f"bench: MISP test server did not start: {line!r}")
    return proc, line[len("url="):], ca


class Listener:
    """A Unix datagram socket standing in for analysisd's queue."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.count = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        while True:
            try:
                self.sock.recv(65536)
            except OSError:
                return
            self.count += 1

    def close(self):
        self.sock.close()


def run_case(name, alert_file, options, workdir, runs):
    """Runs the binary `runs` times on a copy of `alert_file`; returns the
    figures of the case."""
    options_path = os.path.join(workdir, f"{name}.options")
    with open(options_path, "w") as f:
        json.dump(options, f)
    with open(alert_file) as f:
        alert_text = f.read().strip()
    times, rss = [], []
    for i in range(runs):
        alert_path = os.path.join(workdir, f"custom-misp-{i}.alert")
        with open(alert_path, "w") as f:
            f.write(alert_text + "\n")
        argv = ["integrations", alert_path, "", "", "", options_path, "5", "3", "> /dev/null 2>&1"]
        start = time.perf_counter()
        pid = os.posix_spawn(BINARY, argv, os.environ)
        _, status, usage = os.wait4(pid, 0)
        times.append((time.perf_counter() - start) * 1000)
        rss.append(usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit(f"bench: case {name} run {i} exited {code}")
        os.unlink(alert_path)
    times.sort()
    return {
        "case": name,
        "runs": runs,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (runs - 1))], 2),
        "max_ms": round(times[-1], 2),
        "peak_rss_mib": round(max(rss), 2),
    }


def requests_logged(log, offset):
    """The `requests=` counts of the log lines written after `offset`."""
    with open(log) as f:
        f.seek(offset)
        lines = [l for l in f if "requests=" in l]
    return [int(l.split("requests=")[1].split()[0]) for l in lines]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    for path in (BINARY, SERVER):
        if not os.path.exists(path):
            sys.exit(f"bench: {path} missing: run cargo build --release --workspace")

    workdir = tempfile.mkdtemp(prefix="custom-misp-bench-")
    log = os.path.join(workdir, "integrations.log")
    queue = Listener(os.path.join(workdir, "queue"))
    http, http_url, _ = start_server(False, workdir)
    https, https_url, ca = start_server(True, workdir)
    common = {"api_key": KEY, "socket": queue.path, "log_file": log, "timeout": 5}
    match_alert = os.path.join(ALERTS, "sysmon-1-dropper.json")
    nothing_alert = os.path.join(ALERTS, "no-match.json")
    cases = [
        ("http-match", match_alert, dict(common, misp_url=http_url)),
        ("https-match", match_alert, dict(common, misp_url=https_url, ca_file=ca)),
        ("http-no-match", nothing_alert, dict(common, misp_url=http_url)),
        ("feed-match", match_alert, dict(common, feed=FEED)),
    ]
    results = []
    try:
        for name, alert, options in cases:
            sent_before = queue.count
            offset = os.path.getsize(log) if os.path.exists(log) else 0
            result = run_case(name, alert, options, workdir, args.runs)
            time.sleep(0.2)
            result["datagrams_per_alert"] = round((queue.count - sent_before) / args.runs, 2)
            counts = requests_logged(log, offset)
            result["misp_requests_per_alert"] = sorted(set(counts))
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        for proc in (http, https):
            proc.terminate()
            proc.wait()
        queue.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
