#!/usr/bin/env bash
# Checks that a MISP-format feed's hashes.csv is exactly what its event
# files call for: one line `<md5 of value>,<event uuid>` per attribute value,
# and per part of a composite value (`filename|sha256`, `ip-dst|port`,
# `domain|ip`), attributes inside objects included.
#
# Usage: check-feed.sh [FEED_DIR]   (default: intel-feed next to this script)
# Exit 0 when hashes.csv matches, 1 when it does not, 2 when the feed cannot
# be read. Needs jq, or python3 when jq is missing.
set -euo pipefail

feed=${1:-"$(dirname "${BASH_SOURCE[0]}")/intel-feed"}
if [[ ! -f $feed/manifest.json || ! -f $feed/hashes.csv ]]; then
    echo "check-feed: $feed: no manifest.json or hashes.csv" >&2
    exit 2
fi

# The values of one event file, one part per line, composite values split.
values_jq() {
    jq -r '.Event | ((.Attribute // []), ((.Object // [])[] | .Attribute // []))[]
        | if (.type | contains("|")) then (.value | split("|")[]) else .value end' "$1"
}

values_py() {
    python3 - "$1" <<'EOF'
import json, sys
event = json.load(open(sys.argv[1]))["Event"]
attributes = list(event.get("Attribute") or [])
for obj in event.get("Object") or []:
    attributes += obj.get("Attribute") or []
for a in attributes:
    parts = a["value"].split("|") if "|" in a["type"] else [a["value"]]
    for part in parts:
        print(part)
EOF
}

values() {
    if command -v jq >/dev/null; then values_jq "$1"; else values_py "$1"; fi
}

# Every event file is named after its uuid and listed in the manifest.
expected=$(mktemp)
trap 'rm -f "$expected"' EXIT
events=0
for file in "$feed"/*.json; do
    uuid=$(basename "$file" .json)
    [[ $uuid == manifest ]] && continue
    if [[ ! $uuid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
        echo "check-feed: $file: not named <event uuid>.json" >&2
        exit 1
    fi
    events=$((events + 1))
    values "$file" | while IFS= read -r value; do
        printf '%s,%s\n' "$(printf '%s' "$value" | md5sum | cut -d' ' -f1)" "$uuid"
    done >>"$expected"
done

status=0
if ! diff <(sort -u "$expected") <(sort "$feed/hashes.csv"); then
    echo "check-feed: $feed/hashes.csv differs from the event files" \
        "(< missing from hashes.csv, > not called for or repeated)" >&2
    status=1
fi

listed=$(jq -r 'keys[]' "$feed/manifest.json" 2>/dev/null ||
    python3 -c 'import json,sys; print("\n".join(sorted(json.load(open(sys.argv[1])))))' \
        "$feed/manifest.json")
present=$(find "$feed" -maxdepth 1 -name '*-*-*-*-*.json' -printf '%f\n' | sed 's/\.json$//')
if ! diff <(sort <<<"$listed") <(sort <<<"$present") >/dev/null; then
    echo "check-feed: $feed/manifest.json does not list exactly the event files" >&2
    status=1
fi

if ((status == 0)); then
    echo "check-feed: $feed: hashes.csv matches its $events events" \
        "($(wc -l <"$feed/hashes.csv") lines)"
fi
exit "$status"
