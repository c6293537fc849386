#!/usr/bin/env python3
"""Writes learning/README.md from learning/README.md.in with real output.

Every fenced block that opens with ```console is run: each line starting
with `$ ` is a shell command (bash, from the repository root), and the
lines the template had below it are replaced by what the command printed.
Before the first command the script starts what the walkthrough needs on
loopback, the way an analyst's lab would have it, and stops it at the end:
two MISP test servers (standing in for MISP, which cannot run here), one
seeded with the bundled feed and one with the lab's intel feed, and a Unix datagram socket standing in for
Wazuh's queue, whose datagrams `show-datagrams` prints.

Usage: learning/capture.py   (after cargo build --release --workspace)
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "learning", "README.md.in")
OUTPUT = os.path.join(ROOT, "learning", "README.md")
RELEASE = os.path.join(ROOT, "target", "release")


class Queue:
    """A Unix datagram socket standing in for analysisd's queue; every
    datagram it receives is appended to a file, one per line."""

    def __init__(self, path, log):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.log = log
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            with open(self.log, "a") as f:
                f.write(data.decode() + "\n")


def start_misp(lab, feeds):
    args = [os.path.join(RELEASE, "misp-test-server"), "--listen", "127.0.0.1:0"]
    for feed in feeds:
        args += ["--feed", feed]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("url="):
        sys.exit(f"capture: MISP test server did not start: {line!r}")
    return proc, line[4:]


def start_modules(lab):
    """Starts the real misp-modules server (tests/misp-modules/setup.sh
    installs it) with the project's test modules; returns (process, url)."""
    exe = os.path.join(ROOT, "target", "misp-modules-venv", "bin", "misp-modules")
    if not os.path.exists(exe):
        sys.exit("capture: run tests/misp-modules/setup.sh first")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    log = open(os.path.join(lab, "misp-modules.log"), "w")
    custom = os.path.join(ROOT, "tests", "misp-modules", "custom")
    proc = subprocess.Popen([exe, "-l", "127.0.0.1", "-p", str(port), "-c", custom],
                            stdout=log, stderr=log, start_new_session=True,
                            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    sys.exit("capture: misp-modules did not start")


def run(command, env):
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        out += f"[exit {done.returncode}]\n"
    return out


def render(template, env):
    out, lines, i = [], template.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.strip() != "```console":
            continue
        while i < len(lines) and lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                command = lines[i][2:]
                out.append(lines[i])
                printed = run(command, env).rstrip("\n")
                if printed:
                    out.append(printed)
            i += 1
    return "\n".join(out)


def main():
    lab = "/tmp/custom-misp-lab"
    shutil.rmtree(lab, ignore_errors=True)
    os.makedirs(lab)
    queue_path = os.path.join(lab, "queue")
    datagrams = os.path.join(lab, "datagrams")
    Queue(queue_path, datagrams)
    misp, url = start_misp(lab, [os.path.join(ROOT, "integration", "feed")])
    lab_misp, lab_url = start_misp(lab, [os.path.join(ROOT, "learning", "lab", "intel-feed")])
    enrich_misp, enrich_url = start_misp(lab, [os.path.join(ROOT, "learning", "lab", "intel-feed")])
    modules, modules_url = start_modules(lab)
    env = dict(os.environ)
    env.update({
        "PATH": RELEASE + os.pathsep + env["PATH"],
        "LAB": lab,
        "MISP_URL": url,
        "LAB_MISP_URL": lab_url,
        "ENRICH_MISP_URL": enrich_url,
        "MODULES_URL": modules_url,
        "QUEUE": queue_path,
        "DATAGRAMS": datagrams,
        "TERM": "dumb",
        "COLUMNS": "100",
    })
    try:
        with open(TEMPLATE) as f:
            text = render(f.read(), env)
    finally:
        for server in (misp, lab_misp, enrich_misp):
            server.send_signal(signal.SIGTERM)
            server.wait()
        os.killpg(modules.pid, signal.SIGTERM)
        modules.wait()
    with open(OUTPUT, "w") as f:
        f.write(text)
    shutil.rmtree(lab)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
