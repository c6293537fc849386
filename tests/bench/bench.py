#!/usr/bin/env python3
"""Per-alert latency and memory of custom-misp, run as integratord runs it.

For each case the release binary is started RUNS times with integratord's
argv (alert temp file, empty key and URL, options file, timeout, retries and
the redirect string), against the MISP test server over HTTP or HTTPS and a
real Unix datagram socket. Wall time is measured around each process from
spawn to exit; peak RSS comes from the kernel's rusage of the child.

Usage: [CUSTOM_MISP_BINARY=PATH] tests/bench/bench.py [--runs N] [--json FILE]
(builds the release binaries first: cargo build --release --workspace)
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# CUSTOM_MISP_BINARY measures another build, say one of other release settings.
BINARY = os.environ.get("CUSTOM_MISP_BINARY") or os.path.join(ROOT, "target", "release", "custom-misp")
SERVER = os.path.join(ROOT, "target", "release", "misp-test-server")
FEED = os.path.join(ROOT, "integration", "feed")
LAB_FEED = os.path.join(ROOT, "learning", "lab", "intel-feed")
ALERTS = os.path.join(ROOT, "integration", "sample-alerts")
KEY = "wazuhMispTestKey0123456789abcdefghijKLMN"
TIME = "/usr/bin/time"  # GNU time, Debian package `time`


def start_server(tls, workdir):
    """Starts the MISP test server seeded with the bundled feed; returns
    (process, url, ca file or None)."""
    args = [SERVER, "--listen", "127.0.0.1:0", "--feed", FEED, "--feed", LAB_FEED, "--api-key", KEY]
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


def start_modules(workdir):
    """Starts the real misp-modules server of tests/misp-modules/setup.sh
    with the custom test modules; returns (process, url) or (None, None)
    when it is not installed."""
    exe = os.path.join(ROOT, "target", "misp-modules-venv", "bin", "misp-modules")
    if not os.path.exists(exe):
        print("bench: misp-modules not installed (tests/misp-modules/setup.sh): no enrichment cases", file=sys.stderr)
        return None, None
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    custom = os.path.join(ROOT, "tests", "misp-modules", "custom")
    log = open(os.path.join(workdir, "misp-modules.log"), "w")
    proc = subprocess.Popen([exe, "-l", "127.0.0.1", "-p", str(port), "-c", custom],
                            stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    sys.exit("bench: misp-modules did not start")


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


def vary_source(alert_text, i):
    """The alert with a source address of its own for run `i`, so that each
    run records a new observation instead of a repeat."""
    alert = json.loads(alert_text)
    alert["data"]["srcip"] = f"198.18.{i // 250}.{i % 250 + 1}"
    alert["id"] = f"{alert['id']}{i}"
    return json.dumps(alert)


def run_case(name, alert_file, options, workdir, runs, queue, vary=None):
    """Runs the binary `runs` times on a copy of `alert_file`; returns the
    figures of the case."""
    options_path = os.path.join(workdir, f"{name}.options")
    with open(options_path, "w") as f:
        json.dump(options, f)
    with open(alert_file) as f:
        alert_text = f.read().strip()
    times = []
    for i in range(runs):
        alert_path = os.path.join(workdir, f"custom-misp-{i}.alert")
        with open(alert_path, "w") as f:
            f.write((vary(alert_text, i) if vary else alert_text) + "\n")
        argv = ["integrations", alert_path, "", "", "", options_path, "5", "3", "> /dev/null 2>&1"]
        start = time.perf_counter()
        pid = os.posix_spawn(BINARY, argv, os.environ)
        _, status, _ = os.wait4(pid, 0)
        times.append((time.perf_counter() - start) * 1000)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit(f"bench: case {name} run {i} exited {code}")
        os.unlink(alert_path)
    times.sort()
    time.sleep(0.2)
    datagrams = queue.count
    rss = peak_rss(alert_text, options_path, workdir, vary)
    return {
        "case": name,
        "runs": runs,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (runs - 1))], 2),
        "max_ms": round(times[-1], 2),
        "peak_rss_mib": round(rss, 2),
        "datagrams": datagrams,
    }


def peak_rss(alert_text, options_path, workdir, vary, runs=20):
    """The largest resident set of `runs` runs, in MiB, read by GNU time.
    A child spawned straight from Python would report Python's own memory:
    the kernel keeps the high-water mark across exec, and time's fork is
    small."""
    peak = 0
    for i in range(runs):
        alert_path = os.path.join(workdir, f"custom-misp-rss-{i}.alert")
        with open(alert_path, "w") as f:
            f.write((vary(alert_text, 10_000 + i) if vary else alert_text) + "\n")
        argv = [TIME, "-f", "%M", BINARY, alert_path, "", "", "", options_path, "5", "3"]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        peak = max(peak, int(done.stderr.strip().splitlines()[-1]))
        os.unlink(alert_path)
    return peak / 1024


def replay_case(options, workdir, alerts=1000):
    """Replays `alerts` alerts made from the lab attack (each copy on an
    agent of its own, so there are many incidents) and returns the figures
    of replay's summary line."""
    lab = os.path.join(ROOT, "learning", "lab", "alerts.json")
    with open(lab) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    path = os.path.join(workdir, "replay.json")
    with open(path, "w") as f:
        for i in range(alerts):
            alert = lines[i % len(lines)]
            alert["agent"]["id"] = f"{100 + i // len(lines):03d}"
            alert["id"] = f"{alert['id'].split('.')[0]}.{i}"
            f.write(json.dumps(alert) + "\n")
    return replay_file("replay-1000-record", path, options, workdir, alerts)


def replay_file(name, path, options, workdir, alerts):
    """Runs `custom-misp replay` on the `alerts` alerts of `path` with
    `options`; returns the figures of its summary line."""
    options_path = os.path.join(workdir, f"{name}.options")
    with open(options_path, "w") as f:
        json.dump(options, f)
    start = time.perf_counter()
    done = subprocess.run([BINARY, "replay", "--quiet", "--options", options_path, path],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    summary = done.stderr.strip().splitlines()[-1]
    requests = int(summary.split("; ")[1].split()[0])
    return {
        "case": name,
        "alerts": alerts,
        "seconds": round(seconds, 2),
        "alerts_per_second": round(alerts / seconds, 1),
        "misp_requests": requests,
        "misp_requests_per_alert": round(requests / alerts, 2),
        "summary": summary,
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
    if not os.path.exists(TIME):
        sys.exit("bench: GNU time missing: apt-get install -y time")

    workdir = tempfile.mkdtemp(prefix="custom-misp-bench-")
    log = os.path.join(workdir, "integrations.log")
    queue = Listener(os.path.join(workdir, "queue"))
    http, http_url, _ = start_server(False, workdir)
    https, https_url, ca = start_server(True, workdir)
    # Flood control off: each run is the same alert, and every run should
    # send its datagrams as a first sighting would.
    common = {"api_key": KEY, "socket": queue.path, "log_file": log, "timeout": 5,
              "state_dir": os.path.join(workdir, "state"), "flood_control": False}
    match_alert = os.path.join(ALERTS, "sysmon-1-dropper.json")
    nothing_alert = os.path.join(ALERTS, "sshd-5760-no-match.json")
    # An alert without IoCs: the run starts, reads it and exits, which is
    # the floor every other case stands on.
    bare_alert = os.path.join(workdir, "bare.json")
    with open(bare_alert, "w") as f:
        json.dump({"id": "1.1", "rule": {"id": "1002", "level": 2}, "agent": {"id": "000"}}, f)
    lookup = dict(common, record=False, sightings=False, event_context=False,
                  cache_match_ttl=0, cache_no_match_ttl=0)
    brute = os.path.join(ALERTS, "sshd-5712-bruteforce.json")
    cases = [
        ("start-only", bare_alert, dict(common, feed=FEED), None),
        ("http-match", match_alert, dict(lookup, misp_url=http_url), None),
        ("https-match", match_alert, dict(lookup, misp_url=https_url, ca_file=ca), None),
        ("http-no-match", nothing_alert, dict(lookup, misp_url=http_url), None),
        ("feed-match", match_alert, dict(lookup, feed=FEED), None),
        ("http-match-remembered", match_alert,
         dict(lookup, misp_url=http_url, cache_match_ttl=3600), None),
        ("http-record-new", brute, dict(common, misp_url=http_url), vary_source),
        ("http-record-match", match_alert, dict(common, misp_url=http_url), None),
    ]
    modules, modules_url = start_modules(workdir)
    if modules:
        c2_dns = os.path.join(workdir, "c2-dns.json")
        with open(os.path.join(ROOT, "learning", "lab", "alerts.json")) as f:
            dns_line = f.read().splitlines()[16]
        with open(c2_dns, "w") as f:
            f.write(dns_line + "\n")
        enrich = dict(lookup, misp_url=http_url, modules_url=modules_url,
                      enrichment={"ip": ["wazuh_test_asn", "eql"]})
        cases += [
            ("http-enriched-2-modules", c2_dns, dict(enrich, enrichment_ttl=0), None),
            ("http-enriched-remembered", c2_dns, enrich, None),
        ]
    results = []
    try:
        for name, alert, options, vary in cases:
            sent_before = queue.count
            offset = os.path.getsize(log) if os.path.exists(log) else 0
            result = run_case(name, alert, options, workdir, args.runs, queue, vary)
            sent = result.pop("datagrams") - sent_before
            result["datagrams_per_alert"] = round(sent / args.runs, 2)
            counts = requests_logged(log, offset)[: args.runs]
            result["misp_requests_per_alert"] = sorted(set(counts))
            results.append(result)
            print(json.dumps(result), flush=True)
        replayed = replay_case(dict(common, misp_url=http_url), workdir)
        results.append(replayed)
        print(json.dumps(replayed), flush=True)
    finally:
        for proc in (http, https):
            proc.terminate()
            proc.wait()
        if modules:
            os.killpg(modules.pid, signal.SIGTERM)
            modules.wait()
        queue.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
