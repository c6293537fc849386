#!/bin/sh
# Installs custom-misp on a Wazuh manager.
#
#   integration/install.sh [--prefix DIR] [--binary PATH] [--no-chown]
#
# Puts in place, under PREFIX (default /var/ossec):
#   integrations/custom-misp                the program, mode 0750
#   etc/rules/misp_rules.xml                the rules, mode 0660
#   integrations/custom-misp.d/feed/        the bundled offline MISP feed
#   integrations/custom-misp.d/sample-alerts/  alerts for a test by hand
#   var/custom-misp/                        the state directory (wazuh:wazuh 0750)
# all owned root:wazuh when run as root on a host with a wazuh group (as
# Wazuh's own files are), unless --no-chown. It never edits ossec.conf: it
# prints the <integration> block to paste there, and the command to try
# the program by hand.
#
# Exit status: 0 installed, 1 something could not be installed, 2 bad
# arguments.
set -eu

prog=install.sh

die() {
    printf '%s: %s\n' "$prog" "$*" >&2
    exit 1
}

usage() {
    printf 'usage: %s [--prefix DIR] [--binary PATH] [--no-chown]\n' "$prog" >&2
    exit 2
}

# The repository is the parent of this script's folder, wherever it is run
# from.
script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd) || die "cannot find the script's own folder"
repo=$(dirname -- "$script_dir")

prefix=/var/ossec
binary=$repo/target/release/custom-misp
chown_wanted=yes

while [ $# -gt 0 ]; do
    case $1 in
        --prefix)
            [ $# -ge 2 ] || usage
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            shift
            ;;
        --binary)
            [ $# -ge 2 ] || usage
            binary=$2
            shift 2
            ;;
        --binary=*)
            binary=${1#--binary=}
            shift
            ;;
        --no-chown)
            chown_wanted=no
            shift
            ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            printf '%s: unknown argument: %s\n' "$prog" "$1" >&2
            usage
            ;;
    esac
done

[ -n "$prefix" ] || usage
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/

rules_src=$repo/ossec-snippets/misp_rules.xml
block_src=$repo/ossec-snippets/ossec.conf-integration.xml
sysmon_src=$repo/ossec-snippets/sysmon_raise_base_rules.xml
feed_src=$script_dir/feed
samples_src=$script_dir/sample-alerts

# Check everything before changing anything, so that a failure leaves the
# manager as it was.
[ -e "$binary" ] || die "binary not found: $binary (build it with cargo build --release, or pass --binary PATH)"
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
    die "binary is not an executable file: $binary"
fi
for f in "$rules_src" "$block_src" "$feed_src/manifest.json" "$samples_src"; do
    [ -e "$f" ] || die "missing from the repository: $f"
done
[ -d "$prefix" ] || die "prefix is not a directory: $prefix (is the Wazuh manager installed there?)"
[ -w "$prefix" ] || die "prefix is not writable: $prefix (run as root?)"

# Ownership as Wazuh's own installer sets it, when that is possible here.
owner=
if [ "$chown_wanted" = no ]; then
    ownership_note="owner left as is (--no-chown)"
elif [ "$(id -u)" -ne 0 ]; then
    ownership_note="owner left as is (not running as root)"
elif ! grep -q '^wazuh:' /etc/group 2>/dev/null && ! getent group wazuh >/dev/null 2>&1; then
    ownership_note="owner left as is (no group wazuh on this host)"
else
    owner=root:wazuh
    ownership_note="owned root:wazuh"
fi

# Sets mode and, when decided above, owner of each path.
own() {
    mode=$1
    shift
    chmod "$mode" "$@"
    if [ -n "$owner" ]; then
        chown "$owner" "$@"
    fi
}

# Makes a directory that may not exist yet; an existing one keeps its mode
# and owner (Wazuh's etc/rules is 0770 root:wazuh).
make_dir() {
    if [ ! -d "$1" ]; then
        mkdir -p "$1" 2>/dev/null || die "cannot create $1"
        own 0750 "$1"
    fi
}

# Copies a file next to its target and renames it into place, so that
# integratord never runs a half-written program.
put() {
    src=$1
    dst=$2
    mode=$3
    tmp=$dst.new.$$
    cp "$src" "$tmp" 2>/dev/null || die "cannot write $tmp"
    own "$mode" "$tmp" || die "cannot set mode or owner of $tmp"
    mv -f "$tmp" "$dst" 2>/dev/null || die "cannot replace $dst"
}

# Replaces a whole folder of data files with a fresh copy.
put_dir() {
    src=$1
    dst=$2
    make_dir "$(dirname -- "$dst")"
    rm -rf "$dst.new.$$"
    mkdir "$dst.new.$$" 2>/dev/null || die "cannot create $dst.new.$$"
    for f in "$src"/*; do
        [ -f "$f" ] || continue
        cp "$f" "$dst.new.$$/" 2>/dev/null || die "cannot write into $dst.new.$$"
    done
    own 0640 "$dst.new.$$"/*
    own 0750 "$dst.new.$$"
    rm -rf "$dst"
    mv "$dst.new.$$" "$dst" 2>/dev/null || die "cannot replace $dst"
}

integrations=$prefix/integrations
rules_dir=$prefix/etc/rules
data_dir=$integrations/custom-misp.d

make_dir "$integrations"
make_dir "$rules_dir"
put "$binary" "$integrations/custom-misp" 0750
put "$rules_src" "$rules_dir/misp_rules.xml" 0660
put_dir "$feed_src" "$data_dir/feed"
put_dir "$samples_src" "$data_dir/sample-alerts"

# The state directory: answers remembered between runs. The program runs
# as the wazuh user, so wazuh owns it (root:wazuh elsewhere); nobody else
# may read it.
state_dir=$prefix/var/custom-misp
if [ ! -d "$state_dir" ]; then
    mkdir -p "$state_dir" 2>/dev/null || die "cannot create $state_dir"
fi
chmod 0750 "$state_dir"
if [ -n "$owner" ]; then
    chown wazuh:wazuh "$state_dir"
fi

echo "Installed ($ownership_note):"
echo "  $integrations/custom-misp (mode 0750)"
echo "  $rules_dir/misp_rules.xml (mode 0660)"
echo "  $data_dir/feed/ (offline MISP feed)"
echo "  $data_dir/sample-alerts/"
echo "  $state_dir/ (state directory, mode 0750, owned by wazuh)"
echo
if [ ! -f "$prefix/etc/ossec.conf" ]; then
    echo "Note: there is no $prefix/etc/ossec.conf; is this a Wazuh manager?"
    echo
fi
echo "ossec.conf was not changed. Paste this block inside <ossec_config> in"
echo "$prefix/etc/ossec.conf, set misp_url and api_key, then restart the manager"
echo "(systemctl restart wazuh-manager):"
echo
cat "$block_src"
echo
echo "Optional: to check every Sysmon process start, connection and DNS query,"
echo "not only those a detection rule flags, also copy $sysmon_src"
echo "to $rules_dir/ (its header says what it costs)."
echo
echo "Try the program by hand on a sample alert, against the bundled feed,"
echo "printing the datagrams instead of sending them to Wazuh:"
echo
echo "  $integrations/custom-misp --stdout --log-file - --feed $data_dir/feed $data_dir/sample-alerts/sysmon-1-dropper.json"
