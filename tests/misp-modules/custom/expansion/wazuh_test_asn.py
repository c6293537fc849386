"""An ASN lookup in the legacy result format.

Takes an ip-src or ip-dst value and answers the AS number and its owner
for the two documentation networks the tests use, and no result for any
other address.
"""

import ipaddress
import json

mispattributes = {"input": ["ip-src", "ip-dst"], "output": ["AS", "text"]}
moduleinfo = {
    "version": "1",
    "author": "wazuh-misp",
    "description": "Fixed ASN answers for the wazuh-misp tests.",
    "module-type": ["expansion", "hover"],
    "name": "Wazuh Test ASN",
    "logo": "",
    "requirements": [],
    "features": "Answers the AS of 198.51.100.0/24 and 203.0.113.0/24, nothing for other addresses.",
    "references": [],
    "input": "An ip-src or ip-dst attribute.",
    "output": "The AS number and a text naming its owner.",
}
moduleconfig = []

NETWORKS = [
    (ipaddress.ip_network("198.51.100.0/24"), "AS64500", "Example Transit Ltd, NL"),
    (ipaddress.ip_network("203.0.113.0/24"), "AS64511", "Example Hosting GmbH, DE"),
]


def handler(q=False):
    if q is False:
        return False
    request = json.loads(q)
    value = request.get("ip-src") or request.get("ip-dst")
    if not value:
        return {"error": "An ip-src or ip-dst attribute is required"}
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return {"results": []}
    for network, asn, owner in NETWORKS:
        if address in network:
            return {
                "results": [
                    {"types": ["AS"], "values": [asn]},
                    {"types": ["text"], "values": [owner]},
                ]
            }
    return {"results": []}


def introspection():
    return mispattributes


def version():
    moduleinfo["config"] = moduleconfig
    return moduleinfo
