#!/usr/bin/env bash
# tests/consumers/setup.sh - installs the independent consumers' Python packages and prints the
# python to run tests/consumers/consume.py with.
#
# Usage: tests/consumers/setup.sh        (prints the venv's python path on stdout, logs on stderr)
#   Idempotent: creates a venv in $TIDB_CHANGEFEED_CACHE/consumers-venv (default cache root
#   ~/.cache/tidb-changefeed) and installs tests/consumers/requirements.txt into it with pip from
#   PyPI. Re-installs only when requirements.txt changed (its sha256 is kept in the venv as
#   .requirements.sha256) or the venv is broken. Installs python3-venv with apt-get when the
#   machine's python3 has no working venv module (a fresh Debian machine).
#
# Inputs (environment):
#   TIDB_CHANGEFEED_CACHE       cache root, default ~/.cache/tidb-changefeed
#   CONSUMERS_PYTHON            the python3 to build the venv from, default python3 on PATH
#
# Found on this machine (CPython 3.11.7): a first install takes 8-40 s (pip's cache warm or not,
# machine busy or not); later runs return in under a second.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REQS=$HERE/requirements.txt
CACHE_ROOT=${TIDB_CHANGEFEED_CACHE:-${HOME:-/tmp}/.cache/tidb-changefeed}
VENV=$CACHE_ROOT/consumers-venv
HASH_FILE=$VENV/.requirements.sha256
BASE_PYTHON=${CONSUMERS_PYTHON:-python3}

log() { printf 'consumers/setup.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command quietly; prints its output only if it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "command failed: $*"
    fi
}

want_hash() { sha256sum "$REQS" | cut -d' ' -f1; }

# True if the venv exists, runs, has what requirements.txt asked for.
venv_current() {
    [[ -x $VENV/bin/python && -f $HASH_FILE && $(<"$HASH_FILE") == "$(want_hash)" ]] || return 1
    "$VENV/bin/python" -c 'import confluent_kafka.schema_registry.avro, fastavro' >/dev/null 2>&1
}

ensure_venv_module() {
    command -v "$BASE_PYTHON" >/dev/null 2>&1 || die "$BASE_PYTHON not found (Debian: apt-get install -y python3)"
    local probe
    probe=$(mktemp -d)
    if "$BASE_PYTHON" -m venv "$probe/v" >/dev/null 2>&1; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    log "$BASE_PYTHON cannot create a venv; installing python3-venv with apt-get"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
}

main() {
    [[ -f $REQS ]] || die "missing $REQS"
    if venv_current; then
        printf '%s\n' "$VENV/bin/python"
        return 0
    fi
    ensure_venv_module
    mkdir -p "$CACHE_ROOT"
    # Serializes concurrent set-ups on one cache.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$CACHE_ROOT/.consumers-venv.lock"
        flock -w 300 9 || die "timed out waiting for the lock on $CACHE_ROOT/.consumers-venv.lock"
        if venv_current; then
            printf '%s\n' "$VENV/bin/python"
            return 0
        fi
    fi
    log "creating $VENV and installing $(basename "$REQS")"
    rm -rf "$VENV"
    quiet "$BASE_PYTHON" -m venv "$VENV"
    quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
    venv_current_after_install
    want_hash >"$HASH_FILE"
    log "installed: $("$VENV/bin/python" -c 'import confluent_kafka as c; print("confluent-kafka", c.__version__, "librdkafka", c.libversion()[0])')"
    printf '%s\n' "$VENV/bin/python"
}

venv_current_after_install() {
    "$VENV/bin/python" -c 'import confluent_kafka.schema_registry.avro, fastavro' ||
        die "the venv at $VENV cannot import confluent_kafka.schema_registry.avro after pip install"
}

main "$@"
