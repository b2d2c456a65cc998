#!/usr/bin/env bash
# scripts/s3.sh - a real S3 HTTP API on loopback for the claim-check tests, no Docker:
# moto's standalone server (moto[server] 5.2.5 from PyPI, in-memory buckets), with boto3 in the
# same venv as the independent client that reads stored objects back.
#
# Usage: scripts/s3.sh start|stop|restart|status|env|python|server
#   start    Idempotent. Installs the venv on first use (below), then starts moto_server in the
#            background (its own session, so it outlives the shell that started it) on
#            127.0.0.1:$S3_PORT and waits until it answers (default 60 s). Does nothing when an
#            instance started by this script is already running and answering.
#   stop     Stops it by PID (SIGTERM, SIGKILL after 10 s). Succeeds if not running.
#   restart  stop + start.
#   status   Exit 0 if the instance is running and answers S3's ListBuckets, 1 otherwise.
#   env      Prints `export` lines (below) and writes them to $S3_IT_DIR/env.
#            Use: eval "$(scripts/s3.sh env)"
#   python   Installs the venv if needed and prints its python (boto3 and moto importable).
#   server   Installs the venv if needed and prints the moto_server executable (tests start
#            private instances with it on other ports).
#
# Exported by `env`:
#   S3_ENDPOINT          http://127.0.0.1:25000
#   S3_ACCESS_KEY        testing  (moto accepts any key pair; requests are still SigV4-signed)
#   S3_SECRET_KEY        testing
#   S3_REGION            us-east-1
#   S3_PYTHON            the venv's python (boto3)
#   S3_MOTO_SERVER       the venv's moto_server
#   S3_IT_DIR            run dir (below)
#
# Inputs (environment):
#   TIDB_CHANGEFEED_CACHE   cache root, default ~/.cache/tidb-changefeed; the venv is s3-venv/
#   S3_IT_DIR               run dir, default /tmp/tidb-changefeed-s3: moto.log, moto.pid, env
#   S3_PORT                 port, default 25000
#   S3_BASE_PYTHON          the python3 to build the venv from, default python3 on PATH
#   S3_START_TIMEOUT        seconds to wait for the server to answer, default 60
#
# Found on this machine (CPython 3.11, 2 cores): a first install of moto[server] and boto3
# takes about a minute; later runs return at once; moto_server answers 1-3 s after its start.
set -euo pipefail

readonly MOTO_VERSION=5.2.5
readonly HOST=127.0.0.1

CACHE_ROOT=${TIDB_CHANGEFEED_CACHE:-${HOME:-/tmp}/.cache/tidb-changefeed}
VENV=$CACHE_ROOT/s3-venv
STAMP=$VENV/.moto-$MOTO_VERSION
RUN_DIR=${S3_IT_DIR:-/tmp/tidb-changefeed-s3}
PID_FILE=$RUN_DIR/moto.pid
LOG_FILE=$RUN_DIR/moto.log
ENV_FILE=$RUN_DIR/env
PORT=${S3_PORT:-25000}
BASE_PYTHON=${S3_BASE_PYTHON:-python3}
START_TIMEOUT=${S3_START_TIMEOUT:-60}

log() { printf 's3.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command quietly; prints its output only if it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "command failed: $*"
    fi
}

venv_current() {
    [[ -f $STAMP && -x $VENV/bin/moto_server ]] || return 1
    "$VENV/bin/python" -c 'import boto3, moto, flask' >/dev/null 2>&1
}

ensure_venv() {
    venv_current && return 0
    command -v "$BASE_PYTHON" >/dev/null 2>&1 || die "$BASE_PYTHON not found (Debian: apt-get install -y python3)"
    if ! "$BASE_PYTHON" -m venv --help >/dev/null 2>&1 || ! "$BASE_PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
        log "$BASE_PYTHON cannot create a venv; installing python3-venv with apt-get"
        local sudo=()
        [[ $(id -u) -eq 0 ]] || sudo=(sudo)
        quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    log "installing moto[server]==$MOTO_VERSION and boto3 into $VENV (first use)"
    rm -rf "$VENV"
    mkdir -p "$CACHE_ROOT"
    quiet "$BASE_PYTHON" -m venv "$VENV"
    quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" boto3
    touch "$STAMP"
    venv_current || die "the venv at $VENV does not import boto3/moto after the install"
}

read_pid() {
    local pid=""
    [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
}

alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [[ $state != Z* ]]
}

# True if the server answers ListBuckets with 200.
answers() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$HOST:$PORT/" || true)
    [[ $code == 200 ]]
}

cmd_status() {
    local pid
    pid=$(read_pid) || return 1
    alive "$pid" && answers
}

cmd_start() {
    ensure_venv
    if cmd_status; then
        log "already running on $HOST:$PORT (pid $(read_pid))"
        return 0
    fi
    if answers; then
        die "something else answers on $HOST:$PORT; stop it or set S3_PORT"
    fi
    mkdir -p "$RUN_DIR"
    : >"$LOG_FILE"
    setsid nohup "$VENV/bin/moto_server" -H "$HOST" -p "$PORT" \
        </dev/null >>"$LOG_FILE" 2>&1 &
    printf '%s\n' "$!" >"$PID_FILE"
    local pid deadline
    pid=$(read_pid)
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        alive "$pid" || { tail -n 30 "$LOG_FILE" >&2; die "moto_server $pid exited during start-up"; }
        if answers; then
            log "moto_server $MOTO_VERSION answers on http://$HOST:$PORT (pid $pid)"
            return 0
        fi
        sleep 0.2
    done
    tail -n 30 "$LOG_FILE" >&2
    die "moto_server did not answer within ${START_TIMEOUT}s"
}

cmd_stop() {
    local pid
    pid=$(read_pid) || { rm -f "$PID_FILE"; return 0; }
    if alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 10))
        while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_env() {
    ensure_venv
    mkdir -p "$RUN_DIR"
    local text
    text=$(cat <<EOF
export S3_ENDPOINT=http://$HOST:$PORT
export S3_ACCESS_KEY=testing
export S3_SECRET_KEY=testing
export S3_REGION=us-east-1
export S3_PYTHON=$VENV/bin/python
export S3_MOTO_SERVER=$VENV/bin/moto_server
export S3_IT_DIR=$RUN_DIR
EOF
)
    printf '%s\n' "$text" >"$ENV_FILE"
    printf '%s\n' "$text"
}

main() {
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart) cmd_stop; cmd_start ;;
        status) cmd_status ;;
        env) cmd_env ;;
        python) ensure_venv; printf '%s\n' "$VENV/bin/python" ;;
        server) ensure_venv; printf '%s\n' "$VENV/bin/moto_server" ;;
        *) die "usage: $0 start|stop|restart|status|env|python|server" ;;
    esac
}

main "$@"
