#!/usr/bin/env bash
# scripts/mariadb.sh - a real MariaDB server (Debian's mariadb-server) for the SQL checkpoint and
# lease store tests. Its own data dir, port and socket; never the system service.
#
# Usage: scripts/mariadb.sh start|stop|restart|status|env
#   start    Idempotent. Installs mariadb-server + mariadb-client with apt-get if `mariadbd` is
#            missing, makes test TLS certs (kept if present), initialises the data dir with
#            mariadb-install-db when it is new (kept across restarts), starts `mariadbd` in the
#            background on 127.0.0.1:$MARIADB_PORT with its own unix socket, waits until it
#            answers (default 60 s) and (re)creates the test database and users.
#            Does nothing but the user set-up if the server is already running and answering.
#   stop     Stops the server by PID (SIGCONT, SIGTERM, SIGKILL after 20 s). Succeeds if it is not
#            running. The data dir is kept (`rm -rf $MARIADB_IT_DIR/data` for a fresh one).
#   restart  stop + start.
#   status   Exit 0 if the server is running and answering; 1 otherwise.
#   env      Prints `export` lines (below) and writes them to $MARIADB_IT_DIR/env.
#            Use: eval "$(scripts/mariadb.sh env)"   or   . "$MARIADB_IT_DIR/env"
#
# Server: mariadbd from Debian bookworm (10.11), loopback only, skip-name-resolve, small InnoDB
# buffers, no binlog. TLS is offered (not required) with a certificate signed by a test CA
# (SAN DNS:localhost,IP:127.0.0.1); a client that verifies it needs $TIDB_CHANGEFEED_MYSQL_CA.
# Database `tidb_changefeed`; users (host '%'):
#   cdc            password cdc-test   ALL PRIVILEGES ON tidb_changefeed.*
#   cdc_readonly   password cdc-test   SELECT ON tidb_changefeed.*   (for grant tests)
# The administrator is the OS user running this script, over the unix socket (unix_socket auth).
#
# Exported by `env`:
#   TIDB_CHANGEFEED_MYSQL_URL        mysql://cdc@127.0.0.1:<port>/tidb_changefeed (no password)
#   TIDB_CHANGEFEED_MYSQL_PASSWORD   cdc-test
#   TIDB_CHANGEFEED_MYSQL_CA         PEM test CA that signed the server certificate
#   TIDB_CHANGEFEED_MYSQL_READONLY_URL  mysql://cdc_readonly@127.0.0.1:<port>/tidb_changefeed
#   MARIADB_PORT, MARIADB_SOCKET, MARIADB_IT_DIR   this instance
#   MARIADB_MARIADBD, MARIADB_INSTALL_DB           the server binaries (for private instances)
#   MARIADB_SCRIPT                   this script, to start a private instance with other
#                                    MARIADB_IT_DIR / MARIADB_PORT (tests/it/own_mariadb.rs)
#
# Inputs (environment):
#   TIDB_CHANGEFEED_CACHE  cache root, default ~/.cache/tidb-changefeed (test certs in mariadb-tls/)
#   MARIADB_IT_DIR         run dir, default /tmp/tidb-changefeed-mariadb: data/, mariadb.sock,
#                          mariadb.pid, mariadb.log, env
#   MARIADB_PORT           TCP port, default 23306
#   MARIADB_START_TIMEOUT  seconds to wait for the server to answer, default 60
#   MARIADB_MARIADBD, MARIADB_INSTALL_DB   binaries, default found on PATH / /usr/sbin
set -euo pipefail

readonly HOST=127.0.0.1
readonly DB=tidb_changefeed
readonly PASS=cdc-test

CACHE_ROOT=${TIDB_CHANGEFEED_CACHE:-${HOME:-/tmp}/.cache/tidb-changefeed}
TLS_DIR=$CACHE_ROOT/mariadb-tls
RUN_DIR=${MARIADB_IT_DIR:-/tmp/tidb-changefeed-mariadb}
DATA_DIR=$RUN_DIR/data
SOCKET=$RUN_DIR/mariadb.sock
PID_FILE=$RUN_DIR/mariadb.pid
LOG_FILE=$RUN_DIR/mariadb.log
ENV_FILE=$RUN_DIR/env
PORT=${MARIADB_PORT:-23306}
START_TIMEOUT=${MARIADB_START_TIMEOUT:-60}
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
OS_USER=$(id -un)

log() { printf 'mariadb.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "command failed: $*"
    fi
}

find_bin() {
    local name=$1 override=$2
    if [[ -n $override ]]; then
        printf '%s' "$override"
        return 0
    fi
    command -v "$name" 2>/dev/null || { [[ -x /usr/sbin/$name ]] && printf '%s' "/usr/sbin/$name"; } || true
}

MARIADBD=$(find_bin mariadbd "${MARIADB_MARIADBD:-}")
INSTALL_DB=$(find_bin mariadb-install-db "${MARIADB_INSTALL_DB:-}")

# ---------------------------------------------------------------------------------------------
# Process state

read_pid() {
    local pid=""
    [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
}

alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

is_running() {
    local pid
    pid=$(read_pid) || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'mariadbd'
}

# Runs SQL as the administrator over the unix socket.
admin_sql() {
    mariadb --no-defaults --protocol=socket -S "$SOCKET" -u "$OS_USER" --connect-timeout=5 -N -B -e "$1"
}

answers() {
    admin_sql 'SELECT 1' >/dev/null 2>&1
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Setup steps

ensure_installed() {
    if [[ -n $MARIADBD && -x $MARIADBD && -n $INSTALL_DB ]] && command -v mariadb >/dev/null 2>&1 &&
        command -v openssl >/dev/null 2>&1; then
        return 0
    fi
    log "installing mariadb-server, mariadb-client and openssl with apt-get"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # The package's maintainer scripts try to start the system service; that one is not ours
    # (and is refused by policy-rc.d in containers). We start our own below.
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        mariadb-server mariadb-client openssl
    MARIADBD=$(find_bin mariadbd "${MARIADB_MARIADBD:-}")
    INSTALL_DB=$(find_bin mariadb-install-db "${MARIADB_INSTALL_DB:-}")
    [[ -n $MARIADBD && -x $MARIADBD ]] || die "mariadbd still missing after apt-get install"
    [[ -n $INSTALL_DB ]] || die "mariadb-install-db still missing after apt-get install"
}

certs_complete() {
    local f
    for f in ca.pem ca.key server.pem server.key wrong-ca.pem; do
        [[ -s $TLS_DIR/$f ]] || return 1
    done
}

make_certs() {
    certs_complete && return 0
    log "creating the test CA and server certificate in $TLS_DIR"
    mkdir -p "$TLS_DIR"
    local tmp
    tmp=$(mktemp -d "$TLS_DIR/make.XXXXXX")
    (
        cd "$tmp"
        quiet openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tidb-changefeed-mariadb-test-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca.key -out ca.pem
        # A second CA that signed nothing here: a client trusting only it must refuse the server.
        quiet openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tidb-changefeed-wrong-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout wrong-ca.key -out wrong-ca.pem
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >server.ext
        quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
        quiet openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem
        rm -f server.csr wrong-ca.key
        chmod 600 ./*.key
    )
    mv "$tmp"/* "$TLS_DIR"/
    rmdir "$tmp"
}

init_datadir() {
    [[ -d $DATA_DIR/mysql ]] && return 0
    log "initialising a new data dir in $DATA_DIR"
    rm -rf "$DATA_DIR"
    mkdir -p "$DATA_DIR"
    local user_args=()
    [[ $(id -u) -eq 0 ]] && user_args=(--user=root)
    local basedir
    basedir=$(dirname "$(dirname "$MARIADBD")")
    quiet "$INSTALL_DB" --no-defaults "${user_args[@]}" --basedir="$basedir" --datadir="$DATA_DIR" \
        --auth-root-authentication-method=socket --auth-root-socket-user="$OS_USER" \
        --skip-test-db --skip-name-resolve
}

launch() {
    local user_args=()
    [[ $(id -u) -eq 0 ]] && user_args=(--user=root)
    : >"$LOG_FILE"
    rm -f "$SOCKET"
    nohup "$MARIADBD" --no-defaults "${user_args[@]}" --datadir="$DATA_DIR" \
        --bind-address="$HOST" --port="$PORT" --socket="$SOCKET" --pid-file="$RUN_DIR/mariadbd.pid" \
        --log-error="$LOG_FILE" --skip-name-resolve --skip-log-bin --performance-schema=OFF \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --max-connections=200 \
        --ssl-ca="$TLS_DIR/ca.pem" --ssl-cert="$TLS_DIR/server.pem" --ssl-key="$TLS_DIR/server.key" \
        </dev/null >>"$LOG_FILE" 2>&1 9>&- &
    printf '%s\n' "$!" >"$PID_FILE"
}

wait_ready() {
    local pid deadline
    pid=$(read_pid) || return 1
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        alive "$pid" || { log "mariadbd $pid exited during start-up"; return 1; }
        if [[ -S $SOCKET ]] && answers; then
            return 0
        fi
        sleep 0.2
    done
    log "mariadbd did not answer within ${START_TIMEOUT}s"
    return 1
}

setup_users() {
    local u
    local sql="CREATE DATABASE IF NOT EXISTS $DB;"
    # Anonymous accounts would shadow ours for some hosts.
    sql+="DROP USER IF EXISTS ''@'localhost';"
    for u in cdc cdc_readonly; do
        sql+="CREATE USER IF NOT EXISTS '$u'@'%' IDENTIFIED BY '$PASS';"
        sql+="ALTER USER '$u'@'%' IDENTIFIED BY '$PASS';"
    done
    sql+="GRANT ALL PRIVILEGES ON $DB.* TO 'cdc'@'%';"
    sql+="GRANT SELECT ON $DB.* TO 'cdc_readonly'@'%';"
    admin_sql "$sql" >/dev/null || die "could not create the test database and users"
}

# ---------------------------------------------------------------------------------------------
# Subcommands

env_lines() {
    local kv
    for kv in \
        "TIDB_CHANGEFEED_MYSQL_URL=mysql://cdc@$HOST:$PORT/$DB" \
        "TIDB_CHANGEFEED_MYSQL_PASSWORD=$PASS" \
        "TIDB_CHANGEFEED_MYSQL_CA=$TLS_DIR/ca.pem" \
        "TIDB_CHANGEFEED_MYSQL_WRONG_CA=$TLS_DIR/wrong-ca.pem" \
        "TIDB_CHANGEFEED_MYSQL_READONLY_URL=mysql://cdc_readonly@$HOST:$PORT/$DB" \
        "MARIADB_PORT=$PORT" \
        "MARIADB_SOCKET=$SOCKET" \
        "MARIADB_IT_DIR=$RUN_DIR" \
        "MARIADB_MARIADBD=$MARIADBD" \
        "MARIADB_INSTALL_DB=$INSTALL_DB" \
        "MARIADB_SCRIPT=$SCRIPT"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
}

write_env_file() {
    mkdir -p "$RUN_DIR"
    env_lines >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_env() {
    write_env_file
    cat "$ENV_FILE"
}

cmd_status() {
    if is_running && answers; then
        log "running (pid $(read_pid)), answering on $HOST:$PORT and $SOCKET"
        return 0
    fi
    if is_running; then
        log "process $(read_pid) is running but does not answer on $SOCKET"
    else
        log "not running"
    fi
    return 1
}

cmd_stop() {
    local pid deadline
    if ! is_running; then
        rm -f "$PID_FILE"
        log "not running"
        return 0
    fi
    pid=$(read_pid)
    # A SIGSTOPped server ignores SIGTERM until continued.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if alive "$pid"; then
        log "pid $pid still alive after 20s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
    log "stopped (pid $pid)"
}

cmd_start() {
    mkdir -p "$RUN_DIR"
    ensure_installed
    make_certs
    if is_running; then
        if answers; then
            setup_users
            write_env_file
            log "already running (pid $(read_pid)) on $HOST:$PORT"
            return 0
        fi
        log "pid $(read_pid) is alive but does not answer; restarting it"
        cmd_stop
    fi
    port_in_use "$PORT" && die "port $HOST:$PORT is already in use (another server? MARIADB_IT_DIR=$RUN_DIR)"
    init_datadir
    launch
    if ! wait_ready; then
        log "last lines of $LOG_FILE:"
        tail -n 40 "$LOG_FILE" >&2 || true
        local pid
        pid=$(read_pid) || true
        if [[ -n ${pid:-} ]] && alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$PID_FILE"
        die "MariaDB failed to start"
    fi
    setup_users
    write_env_file
    log "MariaDB started (pid $(read_pid)) on $HOST:$PORT; env: $ENV_FILE"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

lock_run_dir() {
    mkdir -p "$RUN_DIR"
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$RUN_DIR/.lock"
    flock -w 120 9 || die "timed out waiting for the lock on $RUN_DIR"
}

main() {
    local cmd=${1:-}
    case $cmd in start | stop | restart) lock_run_dir ;; esac
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart) cmd_stop && cmd_start ;;
        status) cmd_status ;;
        env) cmd_env ;;
        *) usage ;;
    esac
}

main "$@"
