#!/usr/bin/env bash
# tests/consumers/setup-jvm.sh - fetches the JVM consumer's jars and compiles it; prints the
# classpath to run it with (tests/consumers/jvm/DebeziumConsume.java, which consume.py
# --format debezium-json starts).
#
# Usage: tests/consumers/setup-jvm.sh     (prints the classpath on stdout, logs on stderr)
#   Idempotent. Fetches the jars tests/consumers/jvm/pom.xml lists (Kafka Connect's
#   connect-json and the Kafka client 4.1.1, Flink's flink-json with flink-table-common and
#   flink-core, slf4j-simple) from Maven Central with the maven-dependency-plugin into
#   $TIDB_CHANGEFEED_CACHE/consumers-jvm/libs, again only when pom.xml changes (its sha256 is
#   kept as libs/.pom.sha256). Compiles tests/consumers/jvm/*.java with javac --release 17
#   into consumers-jvm/classes, again only when a source file, the jars or the javac change
#   (classes/.sources.sha256). Installs a JDK (default-jdk-headless) and Maven with apt-get when
#   javac or mvn is missing (a fresh Debian machine).
#
# Inputs (environment):
#   TIDB_CHANGEFEED_CACHE   cache root, default ~/.cache/tidb-changefeed
#   JAVA_HOME               the JDK to compile with (default: javac on PATH); Java 17+
#
# Found on this machine (OpenJDK 17, Maven 3.8.7): a first fetch takes about 15 s with a warm
# ~/.m2 and compiling about 4 s; later runs return in well under a second.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$HERE/jvm
POM=$SRC/pom.xml
CACHE_ROOT=${TIDB_CHANGEFEED_CACHE:-${HOME:-/tmp}/.cache/tidb-changefeed}
DIR=$CACHE_ROOT/consumers-jvm
LIBS=$DIR/libs
CLASSES=$DIR/classes
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

log() { printf 'consumers/setup-jvm.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command quietly; prints its output only if it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "command failed: $*"
    fi
}

javac_cmd() {
    if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/javac ]]; then
        printf '%s' "$JAVA_HOME/bin/javac"
    else
        command -v javac || true
    fi
}

classpath() { printf '%s:%s/*\n' "$CLASSES" "$LIBS"; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

# The sources, the fetched jars and the compiler: what the classes were built from.
sources_hash() {
    {
        (cd "$SRC" && sha256sum ./*.java)
        cat "$LIBS/.pom.sha256"
        readlink -f "$(javac_cmd)"
    } | sha256sum | cut -d' ' -f1
}

libs_current() { [[ -f $LIBS/.pom.sha256 && $(<"$LIBS/.pom.sha256") == "$(pom_hash)" ]]; }

classes_current() {
    libs_current && [[ -f $CLASSES/.sources.sha256 && -f $CLASSES/DebeziumConsume.class &&
        $(<"$CLASSES/.sources.sha256") == "$(sources_hash)" ]]
}

ensure_tools() {
    local missing=()
    [[ -n $(javac_cmd) ]] || missing+=(default-jdk-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing ${missing[*]} with apt-get"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    [[ -n $(javac_cmd) ]] || die "javac still missing after apt-get install"
    command -v mvn >/dev/null 2>&1 || die "mvn still missing after apt-get install"
}

fetch_jars() {
    libs_current && return 0
    log "fetching the JVM consumer's jars with Maven into $LIBS"
    mkdir -p "$DIR"
    rm -rf "$DIR"/fetch.*
    local tmp
    tmp=$(mktemp -d "$DIR/fetch.XXXXXX")
    # A copy, so that Maven writes nothing into the source tree.
    cp "$POM" "$tmp/pom.xml"
    if ! mvn -B -q -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
        tail -n 40 "$tmp/mvn.log" >&2
        die "Maven could not fetch the JVM consumer's jars (log: $tmp/mvn.log)"
    fi
    local j
    for j in connect-json kafka-clients flink-json flink-table-common flink-core; do
        compgen -G "$tmp/libs/$j-[0-9]*.jar" >/dev/null || die "no $j jar after the Maven fetch"
    done
    pom_hash >"$tmp/libs/.pom.sha256"
    rm -rf "$LIBS"
    mv "$tmp/libs" "$LIBS"
    rm -rf "$tmp"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1))"
}

compile() {
    classes_current && return 0
    local javac tmp
    javac=$(javac_cmd)
    log "compiling $SRC/*.java into $CLASSES"
    mkdir -p "$DIR"
    rm -rf "$DIR"/classes.*
    tmp=$(mktemp -d "$DIR/classes.XXXXXX")
    if ! "$javac" --release 17 -encoding UTF-8 -Xlint:all -Werror -d "$tmp" -cp "$LIBS/*" "$SRC"/*.java \
        >"$tmp/javac.log" 2>&1; then
        cat "$tmp/javac.log" >&2
        rm -rf "$tmp"
        die "javac failed on $SRC"
    fi
    rm -f "$tmp/javac.log"
    sources_hash >"$tmp/.sources.sha256"
    rm -rf "$CLASSES"
    mv "$tmp" "$CLASSES"
}

main() {
    [[ -f $POM ]] || die "missing $POM"
    if classes_current; then
        classpath
        return 0
    fi
    ensure_tools
    mkdir -p "$DIR"
    # Serializes concurrent set-ups on one cache.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$CACHE_ROOT/.consumers-jvm.lock"
        flock -w 300 9 || die "timed out waiting for the lock on $CACHE_ROOT/.consumers-jvm.lock"
    fi
    fetch_jars
    compile
    classpath
}

main "$@"
