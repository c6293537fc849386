#!/usr/bin/env python3
"""Rebuilds fuzz/seeds/ from the project's own fixtures.

Run it from anywhere after a fixture changes; it rewrites every seed:

  alert          the alerts of tests/fixtures/alerts and
                 integration/sample-alerts, as they are;
  misp_reply     the answers of the MISP stand-in (tests/misp-server)
                 loaded with integration/feed: searches, event views and
                 error bodies, with numbers as strings and as integers;
  modules_reply  the answers of the test modules of tests/misp-modules,
                 called as misp-modules calls them, and their /modules list;
  options        the options of the ossec.conf snippet, and options that
                 set every key README.md lists;
  feed           one feed folder per event of integration/feed, with the
                 values that event holds (see fuzz_targets/feed.rs).

Needs cargo (it builds the MISP stand-in) and python3; nothing else.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
FEED = ROOT / "integration" / "feed"
MODULES = ROOT / "tests" / "misp-modules" / "custom" / "expansion"
TEST_API_KEY = "MispTestServerKey00000000000000000000abc"


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    alert_seeds()
    misp_reply_seeds()
    modules_reply_seeds()
    options_seeds()
    feed_seeds()


def write(target, name, content):
    """Writes one seed; text is written as UTF-8."""
    path = SEEDS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)


def alert_seeds():
    for folder in ["tests/fixtures/alerts", "integration/sample-alerts"]:
        for path in sorted((ROOT / folder).glob("*.json")):
            write("alert", path.name, path.read_bytes())


def feed_events():
    """The events of the bundled feed, by uuid."""
    manifest = json.loads((FEED / "manifest.json").read_text())
    return {uuid: json.loads((FEED / f"{uuid}.json").read_text()) for uuid in manifest}


def misp_reply_seeds():
    for numbers in ["strings", "integers"]:
        with MispStandIn(numbers) as misp:
            for uuid, event in feed_events().items():
                values = [a["value"] for a in event["Event"]["Attribute"]][:3]
                search = {"returnFormat": "json", "value": values, "includeContext": True,
                          "includeEventTags": True, "limit": 100, "page": 1}
                _, body = misp.request("POST", "/attributes/restSearch", search)
                write("misp_reply", f"search-{uuid[:8]}-{numbers}.json", body)
                _, body = misp.request("GET", f"/events/view/{uuid}")
                write("misp_reply", f"view-{uuid[:8]}-{numbers}.json", body)
            nothing = {"returnFormat": "json", "value": ["192.0.2.99"]}
            _, body = misp.request("POST", "/attributes/restSearch", nothing)
            write("misp_reply", f"search-no-match-{numbers}.json", body)
    with MispStandIn("strings") as misp:
        for name, (method, path, payload, key) in error_requests().items():
            status, body = misp.request(method, path, payload, key=key)
            write("misp_reply", f"{name}-{status}.json", body)


def error_requests():
    """Requests MISP refuses, in order, each with the error body it
    answers; the first, which succeeds, creates the event that the
    duplicate goes to."""
    uuid = "6b1f0c2e-8d4a-4e5b-9c7d-3a2f1e0d9c8b"
    attribute = {"type": "ip-src", "value": "198.51.100.23", "category": "Network activity"}
    event = {"Event": {"uuid": uuid, "info": "Wazuh incident", "Attribute": [attribute]}}
    return {
        "created": ("POST", "/events/add", event, TEST_API_KEY),
        "auth": ("POST", "/attributes/restSearch", {"value": "x"}, "0" * 40),
        "unknown-event": ("GET", "/events/view/999999", None, TEST_API_KEY),
        "event-exists": ("POST", "/events/add", event, TEST_API_KEY),
        "duplicate": ("POST", f"/attributes/add/{uuid}", attribute, TEST_API_KEY),
        "not-ours": ("POST", f"/attributes/add/{next(iter(feed_events()))}", attribute,
                     TEST_API_KEY),
        "malformed": ("POST", "/events/add", b"{\"Event\": ", TEST_API_KEY),
    }


class MispStandIn:
    """The MISP stand-in as a process, loaded with the bundled feed."""

    def __init__(self, numbers):
        self.numbers = numbers

    def __enter__(self):
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        subprocess.run(["cargo", "build", "--quiet", "-p", "misp-test-server"], cwd=ROOT,
                       check=True)
        program = target / "debug" / "misp-test-server"
        self.process = subprocess.Popen(
            [program, "--feed", FEED, "--numbers", self.numbers],
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("url="):
            raise RuntimeError(f"misp-test-server said {line!r}")
        self.url = line[len("url="):]
        return self

    def __exit__(self, *_):
        self.process.terminate()
        self.process.wait()

    def request(self, method, path, payload=None, key=TEST_API_KEY):
        """The status and body of one request, errors included."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=payload, method=method, headers={
            "Authorization": key, "Accept": "application/json",
            "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def modules_reply_seeds():
    modules = {path.stem: load_module(path) for path in sorted(MODULES.glob("*.py"))}
    listing = [{"name": name, "type": "expansion", "mispattributes": module.introspection(),
                "meta": module.version()} for name, module in modules.items()]
    write("modules_reply", "modules.json", json.dumps(listing))
    reputation = lab_malware_hash()
    queries = {
        "asn-match": ("wazuh_test_asn", {"ip-src": "198.51.100.23"}),
        "asn-none": ("wazuh_test_asn", {"ip-dst": "192.0.2.1"}),
        "broken": ("wazuh_test_broken", {"domain": "example.com"}),
        "reputation-known": ("wazuh_test_reputation", {"attribute": reputation}),
        "reputation-unknown": ("wazuh_test_reputation", {"attribute": {
            "type": "md5", "value": "0" * 31 + "1",
            "uuid": "5d2b5e3f-6466-563b-8d68-f6882f07efac"}}),
        "reputation-no-key": ("wazuh_test_reputation", {"attribute": reputation, "config": {}}),
    }
    for name, (module, query) in queries.items():
        query = {"module": module, "config": {"apikey": "x"}, **query}
        answer = modules[module].handler(json.dumps(query))
        write("modules_reply", f"{name}.json", json.dumps(answer))


def lab_malware_hash():
    """A hash of the lab malware, as the reputation module knows it."""
    return {"type": "sha256", "uuid": "0e4b5f62-3c1d-4f0a-9a57-8d1c2b7e6a41",
            "value": "8f37280f596c73a11d706625c737694416ca426d8763dd7dccc90a1d24c73463"}


def load_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def options_seeds():
    snippet = (ROOT / "ossec-snippets" / "ossec.conf-integration.xml").read_text()
    write("options", "ossec-snippet.options", re.search(r"<options>(.*)</options>", snippet)[1])
    write("options", "feed.options", json.dumps({"feed": "integration/feed"}))
    write("options", "empty.options", "")
    write("options", "every-key.options", json.dumps(every_key()))
    write("options", "key-file.options", json.dumps({
        "misp_url": "http://127.0.0.1:8080", "api_key_file": "key", "ca_file": "ca.pem"}))


def every_key():
    """A value for every key of README.md's option table: its default when
    the table gives one, else one of the right shape."""
    shapes = {
        "misp_url": "https://misp.example.org", "api_key": "abcdefghij" * 4,
        "socket": "/var/ossec/queue/sockets/queue", "feed": "integration/feed",
        "log_file": "-", "tags": ["tlp:green", "!tlp:red"], "record_groups": ["sshd"],
        "fields": {"ip": ["data.peer"], "hash": ["data.digest"], "host": ["data.server"],
                   "url": ["data.link"], "md5": ["data.md5sum"]},
        "enrichment": {"hash": ["hashlookup"], "ip": ["ipasn"], "domain": ["dns"],
                       "url": []},
        "module_config": {"virustotal_public": {"apikey": "x"}},
        "enrich_min_level": 12, "debug": False, "timeout": 2.5, "retries": 1,
    }
    known = re.findall(r'\("(\w+)", Shape::', (ROOT / "src" / "config.rs").read_text())
    readme = (ROOT / "README.md").read_text()
    options = {}
    for key, default in re.findall(r"^\| `(\w+)` \| ([^|]*) \|", readme, re.M):
        literal = default.strip().strip("`")
        if key not in known:
            continue
        if key in shapes:
            options[key] = shapes[key]
        elif re.fullmatch(r"true|false|[0-9.]+", literal):
            options[key] = json.loads(literal)
        elif literal.startswith(("/", "http", "tlp:")) or literal in ("matched", "all"):
            options[key] = literal
    return options


def feed_seeds():
    manifest = json.loads((FEED / "manifest.json").read_text())
    hashes = (FEED / "hashes.csv").read_text().splitlines()
    for uuid, event in feed_events().items():
        values = [part for a in event["Event"]["Attribute"] for part in a["value"].split("|")]
        files = {
            "manifest.json": json.dumps({uuid: manifest[uuid]}),
            "hashes.csv": "\n".join(line for line in hashes if line.endswith(uuid)),
            f"{uuid}.json": json.dumps(event),
        }
        write("feed", f"{uuid[:8]}.feed", feed_input(values, files))
        del files["hashes.csv"]
        write("feed", f"{uuid[:8]}-no-hashes.feed", feed_input(values[:1], files))
        # The same values as a CSV feed (with MISP's export header) and as
        # defanged free text.
        rows = ["uuid,category,type,value,comment,to_ids"] + [
            f'{a["uuid"]},{a["category"]},{a["type"]},"{a["value"]}",,1'
            for a in event["Event"]["Attribute"]
        ]
        write("feed", f"{uuid[:8]}-csv.feed", feed_input(values, {"feed.csv": "\n".join(rows)}))
        bare = "\n".join(values)
        write("feed", f"{uuid[:8]}-csv-values.feed", feed_input(values, {"feed.csv": bare}))
        text = " and ".join(v.replace(".", "[.]").replace("http", "hxxp") for v in values)
        write("feed", f"{uuid[:8]}-text.feed", feed_input(values, {"feed.txt": f"Seen: {text}. # report"}))


def feed_input(values, files):
    """The input format of fuzz_targets/feed.rs."""
    sections = ["\n".join(values)] + [f"{name}\n{content}" for name, content in files.items()]
    return "\n--- ".join(sections) + "\n"


if __name__ == "__main__":
    main()
