"""A file reputation service in the shape of the VirusTotal modules.

Takes a hash attribute in the misp_standard format and, for the three
hashes of the lab malware, answers a virustotal-report object next to the
input attribute, the way MISPEvent.to_json() lays them out. Any other hash
is not found, which modules report as an error. Needs an API key in its
configuration, as the real reputation modules do, but never uses it: the
answers are fixed, so every UUID is derived from the input.
"""

import json
import uuid

mispattributes = {"input": ["md5", "sha1", "sha256"], "format": "misp_standard"}
moduleinfo = {
    "version": "1",
    "author": "wazuh-misp",
    "description": "Fixed file reputation reports for the wazuh-misp tests.",
    "module-type": ["expansion"],
    "name": "Wazuh Test Reputation",
    "logo": "",
    "requirements": ["An API key (any value)."],
    "features": (
        "Answers a virustotal-report object for the hashes of the lab malware "
        "and 'not found' for any other hash."
    ),
    "references": [],
    "input": "A md5, sha1 or sha256 attribute.",
    "output": "The input attribute and a virustotal-report object.",
}
moduleconfig = ["apikey"]

# The lab malware, under each of its hashes.
KNOWN_HASHES = {
    ("md5", "32ea19a51e3b1ccef50268e1b3dd37e0"),
    ("sha1", "1e696d41068dd19fd3b3c3c512aa8de8c9fac23e"),
    ("sha256", "8f37280f596c73a11d706625c737694416ca426d8763dd7dccc90a1d24c73463"),
}
DETECTION_RATIO = "52/71"
LAST_SUBMISSION = "2024-05-14T09:26:53+00:00"
PERMALINK = "https://reputation.example.net/file/{}"

# The virustotal-report template of misp-objects, version 5.
TEMPLATE_UUID = "d7dd0154-e04f-4c34-a2fb-79f3a3a52aa4"
TEMPLATE_VERSION = "5"

# Every UUID of an answer is a UUID5 of the input in this namespace.
NAMESPACE = uuid.UUID("0e4b5f62-3c1d-4f0a-9a57-8d1c2b7e6a41")

REQUIRED_FIELDS = ("type", "value", "uuid")
ATTRIBUTE_ERROR = (
    'This module requires an "attribute" field as input, which should '
    "contain at least a type, a value and an uuid."
)


def handler(q=False):
    if q is False:
        return False
    request = json.loads(q)
    config = request.get("config") or {}
    if not config.get("apikey"):
        return {"error": "An API key is required"}
    attribute = request.get("attribute")
    if not attribute or not all(field in attribute for field in REQUIRED_FIELDS):
        return {"error": ATTRIBUTE_ERROR}
    if attribute["type"] not in mispattributes["input"]:
        return {"error": "Unsupported attribute type."}
    value = attribute["value"].strip().lower()
    if (attribute["type"], value) not in KNOWN_HASHES:
        return {"error": "Non existing hash"}
    return {
        "results": {
            "Attribute": [input_attribute(attribute)],
            "Object": [report(attribute["uuid"], value)],
        }
    }


def input_attribute(attribute):
    """The input attribute with MISP's defaults for a hash filled in."""
    return {
        "uuid": attribute["uuid"],
        "type": attribute["type"],
        "value": attribute["value"],
        "category": attribute.get("category", "Payload delivery"),
        "to_ids": attribute.get("to_ids", True),
        "disable_correlation": attribute.get("disable_correlation", False),
    }


def report(input_uuid, value):
    """The virustotal-report object of a known hash, pointing at the input."""
    object_uuid = derived_uuid(input_uuid, value, "object")
    return {
        "name": "virustotal-report",
        "meta-category": "misc",
        "template_uuid": TEMPLATE_UUID,
        "description": "VirusTotal report",
        "template_version": TEMPLATE_VERSION,
        "uuid": object_uuid,
        "ObjectReference": [
            {
                "uuid": derived_uuid(input_uuid, value, "reference"),
                "object_uuid": object_uuid,
                "referenced_uuid": input_uuid,
                "relationship_type": "related-to",
            }
        ],
        "Attribute": [
            object_attribute(input_uuid, value, "detection-ratio", "text", DETECTION_RATIO),
            object_attribute(input_uuid, value, "permalink", "link", PERMALINK.format(value)),
            object_attribute(input_uuid, value, "last-submission", "datetime", LAST_SUBMISSION),
        ],
        "distribution": "5",
        "sharing_group_id": "0",
    }


def object_attribute(input_uuid, value, relation, kind, content):
    """One attribute of the report, with the template's category."""
    return {
        "uuid": derived_uuid(input_uuid, value, relation),
        "object_relation": relation,
        "value": content,
        "type": kind,
        "category": "Other" if kind == "datetime" else "External analysis",
        "disable_correlation": True,
        "to_ids": False,
    }


def derived_uuid(input_uuid, value, part):
    return str(uuid.uuid5(NAMESPACE, "{}/{}/{}".format(input_uuid, value, part)))


def introspection():
    return mispattributes


def version():
    moduleinfo["config"] = moduleconfig
    return moduleinfo
