"""A module that takes its time.

Waits three seconds before answering, so that tests can check what a
client does when enrichment is slower than its budget.
"""

import json
import time

mispattributes = {"input": ["ip-src", "ip-dst", "domain"], "output": ["text"]}
moduleinfo = {
    "version": "1",
    "author": "wazuh-misp",
    "description": "Answers after three seconds, for the wazuh-misp tests.",
    "module-type": ["expansion"],
    "name": "Wazuh Test Slow",
    "logo": "",
    "requirements": [],
    "features": "Sleeps three seconds, then answers a fixed text.",
    "references": [],
    "input": "An ip-src, ip-dst or domain attribute.",
    "output": "A text.",
}
moduleconfig = []

DELAY_SECONDS = 3


def handler(q=False):
    if q is False:
        return False
    json.loads(q)
    time.sleep(DELAY_SECONDS)
    return {"results": [{"types": ["text"], "values": ["slow answer"]}]}


def introspection():
    return mispattributes


def version():
    moduleinfo["config"] = moduleconfig
    return moduleinfo
