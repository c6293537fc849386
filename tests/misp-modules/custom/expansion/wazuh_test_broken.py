"""A module whose upstream service always fails.

Answers every domain or hostname with the error a module reports when its
upstream service refuses to work.
"""

import json

mispattributes = {"input": ["domain", "hostname"], "output": ["text"]}
moduleinfo = {
    "version": "1",
    "author": "wazuh-misp",
    "description": "Always fails, for the wazuh-misp tests.",
    "module-type": ["expansion"],
    "name": "Wazuh Test Broken",
    "logo": "",
    "requirements": [],
    "features": "Answers every query with an upstream error.",
    "references": [],
    "input": "A domain or hostname attribute.",
    "output": "An error.",
}
moduleconfig = []


def handler(q=False):
    if q is False:
        return False
    json.loads(q)
    return {"error": "upstream service said: quota exceeded"}


def introspection():
    return mispattributes


def version():
    moduleinfo["config"] = moduleconfig
    return moduleinfo
