#!/usr/bin/env bash
# scripts/kafka.sh - a real single-node Apache Kafka (KRaft) broker for tests, no Docker.
#
# Usage: scripts/kafka.sh start|stop|restart|status|env|acl ARGS...|topics ARGS...
#   start    Idempotent. Installs kcat (apt-get) if missing, fetches the Kafka jars into the cache
#            with Maven (skipped when cached), makes test TLS certs (kept if present), writes
#            server.properties, formats a FRESH data dir (topics/ACLs of an earlier run are gone),
#            starts the broker in the background and waits until it answers (default 90 s).
#            Does nothing if the broker is already running and answering.
#   stop     Stops the broker by PID (SIGTERM, SIGKILL after 20 s). Succeeds if it is not running.
#   restart  stop + start.
#   kill     SIGKILL the broker, as a crash would; `KAFKA_KEEP_DATA=1 start` brings it back
#            with its data (KAFKA_KEEP_DATA=1 skips formatting when the data dir exists).
#   status   Exit 0 if the broker is running, answering on PLAINTEXT and started with the
#            server.properties this script writes now; 1 otherwise.
#   env      Prints `export` lines (below) and writes them to $KAFKA_IT_DIR/env.
#            Use: eval "$(scripts/kafka.sh env)"   or   . "$KAFKA_IT_DIR/env"
#   acl      org.apache.kafka.tools.AclCommand --bootstrap-server <PLAINTEXT> ARGS... (the
#            --bootstrap-server is left out if ARGS have their own), e.g.
#              scripts/kafka.sh acl --add --allow-principal User:alice --operation Create \
#                --operation Write --topic '*'
#              scripts/kafka.sh acl --add --allow-principal User:alice --operation DescribeConfigs --cluster
#   topics   org.apache.kafka.tools.TopicCommand, same way, e.g.
#              scripts/kafka.sh topics --create --topic t1 --partitions 3
#              scripts/kafka.sh topics --bootstrap-server 127.0.0.1:19094 \
#                --command-config "$KAFKA_IT_DIR/client-alice.properties" --list
#
# Broker: Apache Kafka 4.1.1 (kafka_2.13 + kafka-tools + log4j2 2.24.3), Java 17+, heap -Xmx768m.
# Single KRaft node (process.roles=broker,controller, node.id=1, static quorum), loopback only.
# Listeners (host 127.0.0.1; port env var, default):
#   PLAINTEXT       KAFKA_PLAINTEXT_PORT       19092  no auth, principal User:ANONYMOUS (super user)
#   CONTROLLER      KAFKA_CONTROLLER_PORT      19093  KRaft controller only, not for clients
#   SASL_PLAINTEXT  KAFKA_SASL_PLAINTEXT_PORT  19094  SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   SSL             KAFKA_SSL_PORT             19095  TLS; client cert optional (ssl.client.auth=requested):
#                                                     no cert -> User:ANONYMOUS, CA-signed cert with
#                                                     subject CN=X -> User:X (client.crt -> User:client)
#   SASL_SSL        KAFKA_SASL_SSL_PORT        19096  TLS + SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   DELAYED         KAFKA_DELAYED_PORT         19097  plaintext like PLAINTEXT, but advertised at
#                   KAFKA_DELAYED_PROXY_PORT   19098  (nothing of the broker's listens there): a
#                                                     proxy on that port forwarding to 19097 keeps
#                                                     every client connection on itself, as the e2e
#                                                     bench's delay proxy does (a broker far away).
# Users (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 alike; password is "<name>-secret"):
#   admin (super user), alice, bob, carol (no rights until ACLs are added).
# Authorization: StandardAuthorizer, super.users=User:ANONYMOUS;User:admin;User:client,
#   allow.everyone.if.no.acl.found=false, auto.create.topics.enable=false. Denials are logged.
# TLS (test CA, made with openssl): broker cert has SAN DNS:localhost,IP:127.0.0.1.
# Caveat: Debian bookworm's kcat uses librdkafka 2.0.2, whose SCRAM is rejected by Kafka 4.x
#   ("invalid credentials"; fixed in librdkafka 2.6.1). Use PLAIN with that kcat; SCRAM works with
#   Java clients and newer librdkafka. kcat is used here only for the PLAINTEXT readiness check.
#
# Exported by `env`:
#   KAFKA_PLAINTEXT, KAFKA_SASL_PLAINTEXT, KAFKA_SSL, KAFKA_SASL_SSL   host:port of each listener
#   KAFKA_DELAYED                     host:port the DELAYED listener is bound to (a proxy's upstream)
#   KAFKA_DELAYED_PROXY               host:port it advertises (where that proxy must listen)
#   KAFKA_CA_FILE                     PEM CA certificate that signed the broker and client certs
#   KAFKA_CLIENT_CERT, KAFKA_CLIENT_KEY  PEM client cert (CN=client, clientAuth) and PKCS#8 key
#   KAFKA_ADMIN_USER, KAFKA_ADMIN_PASSWORD   admin / admin-secret
#   KAFKA_USER, KAFKA_PASSWORD        alice / alice-secret (non-super user for ACL tests)
#   KAFKA_HOME                        Kafka install dir (cache); jars are in $KAFKA_HOME/libs
#   KAFKA_LIBS                        = $KAFKA_HOME/libs, for: java -cp "$KAFKA_LIBS/*" <class>
#   KAFKA_IT_DIR                      run dir (below)
#
# Inputs (environment):
#   TIDB_CHANGEFEED_CACHE  cache root, default ~/.cache/tidb-changefeed (jars in kafka-4.1.1/)
#   KAFKA_IT_DIR           run dir, default /tmp/tidb-changefeed-kafka: tls/, data/,
#                          server.properties, kafka.log, kafka.pid, env, client-<user>.properties
#                          (SASL_PLAINTEXT SCRAM-SHA-512 client configs for --command-config)
#   KAFKA_*_PORT           listener ports (above)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer, default 90
#   KAFKA_HEAP_OPTS        default "-Xms256m -Xmx768m"
set -euo pipefail

readonly KAFKA_VERSION=4.1.1
readonly SCALA_VERSION=2.13
readonly LOG4J_VERSION=2.24.3
readonly SLF4J_VERSION=2.0.17
readonly DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
readonly FETCH_SPEC="kafka_${SCALA_VERSION}-${KAFKA_VERSION} log4j-${LOG4J_VERSION} slf4j-${SLF4J_VERSION}"

readonly HOST=127.0.0.1
readonly USERS=(admin alice bob carol)
readonly STORE_PASS=changeit

CACHE_ROOT=${TIDB_CHANGEFEED_CACHE:-${HOME:-/tmp}/.cache/tidb-changefeed}
KHOME=$CACHE_ROOT/kafka-$KAFKA_VERSION
LIBS=$KHOME/libs
LOG4J_CONF=$KHOME/config/log4j2.properties
MARKER=$KHOME/.fetch-complete
RUN_DIR=${KAFKA_IT_DIR:-/tmp/tidb-changefeed-kafka}
TLS_DIR=$RUN_DIR/tls
DATA_DIR=$RUN_DIR/data
PROPS=$RUN_DIR/server.properties
LOG_FILE=$RUN_DIR/kafka.log
PID_FILE=$RUN_DIR/kafka.pid
ENV_FILE=$RUN_DIR/env

PORT_PLAINTEXT=${KAFKA_PLAINTEXT_PORT:-19092}
PORT_CONTROLLER=${KAFKA_CONTROLLER_PORT:-19093}
PORT_SASL_PLAINTEXT=${KAFKA_SASL_PLAINTEXT_PORT:-19094}
PORT_SSL=${KAFKA_SSL_PORT:-19095}
PORT_SASL_SSL=${KAFKA_SASL_SSL_PORT:-19096}
PORT_DELAYED=${KAFKA_DELAYED_PORT:-19097}
PORT_DELAYED_PROXY=${KAFKA_DELAYED_PROXY_PORT:-19098}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
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
# Process state

read_pid() {
    local pid=""
    [[ -f $PID_FILE ]] && pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
}

# True if $1 is a live (non-zombie) process.
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}

# True if the PID file names a live kafka.Kafka process.
is_running() {
    local pid
    pid=$(read_pid) || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'
}

# True if the broker answers a metadata request on PLAINTEXT and lists itself.
answers() {
    command -v kcat >/dev/null 2>&1 || return 1
    timeout 10 kcat -b "$HOST:$PORT_PLAINTEXT" -L -m 2 2>/dev/null | grep -q '^ *1 brokers:'
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Setup steps

ensure_kcat() {
    # kcat reads our output back; openssl makes the test CAs (here and in the tests).
    command -v kcat >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1 && return 0
    log "installing kcat and openssl with apt-get"
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    quiet "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat openssl
    command -v kcat >/dev/null 2>&1 || die "kcat still missing after apt-get install"
    command -v openssl >/dev/null 2>&1 || die "openssl still missing after apt-get install"
}

jars_complete() {
    [[ -f $MARKER && $(<"$MARKER") == "$FETCH_SPEC" ]] &&
        [[ -f $LIBS/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar && -f $LIBS/kafka-tools-${KAFKA_VERSION}.jar ]]
}

fetch_jars() {
    jars_complete && return 0
    command -v mvn >/dev/null 2>&1 || die "mvn not found (Debian: apt-get install -y maven)"
    command -v java >/dev/null 2>&1 || die "java not found (need Java 17+)"
    log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS"
    mkdir -p "$KHOME"
    rm -rf "$MARKER" "$KHOME"/fetch.*
    local tmp pom
    tmp=$(mktemp -d "$KHOME/fetch.XXXXXX")
    pom=$tmp/kafka-libs.pom.xml
    cat >"$pom" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Throw-away POM generated by scripts/kafka.sh, only used to download the broker's jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tidb-changefeed</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_${SCALA_VERSION}</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <!-- kafka-clients asks for slf4j-api 1.7.36, which cannot use the slf4j2 binding above. -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
EOF
    if ! mvn -B -q -f "$pom" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
        tail -n 40 "$tmp/mvn.log" >&2
        die "Maven could not fetch the Kafka jars (log: $tmp/mvn.log)"
    fi
    rm -rf "$LIBS"
    mv "$tmp/libs" "$LIBS"
    rm -rf "$tmp"
    jars_complete_files_or_die
    printf '%s' "$FETCH_SPEC" >"$MARKER"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1))"
}

jars_complete_files_or_die() {
    local j
    for j in "kafka_${SCALA_VERSION}-${KAFKA_VERSION}" "kafka-tools-${KAFKA_VERSION}" \
        "log4j-core-${LOG4J_VERSION}" "log4j-slf4j2-impl-${LOG4J_VERSION}" "slf4j-api-${SLF4J_VERSION}"; do
        [[ -f $LIBS/$j.jar ]] || die "missing $LIBS/$j.jar after the Maven fetch"
    done
}

write_log4j() {
    mkdir -p "$(dirname "$LOG4J_CONF")"
    cat >"$LOG4J_CONF.tmp" <<'EOF'
# Written by scripts/kafka.sh. Quiet broker; stderr (redirected to kafka.log for the broker).
status = warn
name = tidb-changefeed-kafka
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = STDERR
# Keeps "[KafkaRaftServer nodeId=1] Kafka Server started".
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = info
# Authorization denials are logged at INFO (allowed requests at DEBUG).
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = info
EOF
    mv "$LOG4J_CONF.tmp" "$LOG4J_CONF"
}

certs_complete() {
    local f
    for f in ca.crt ca.key broker.p12 client.crt client.key; do
        [[ -s $TLS_DIR/$f ]] || return 1
    done
}

make_certs() {
    certs_complete && return 0
    command -v openssl >/dev/null 2>&1 || die "openssl not found"
    log "creating test CA, broker and client certificates in $TLS_DIR"
    rm -rf "$TLS_DIR"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        quiet openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tidb-changefeed-test-ca" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca.key -out ca.crt
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >broker.ext
        quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr
        quiet openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile broker.ext -out broker.crt
        quiet openssl pkcs12 -export -in broker.crt -inkey broker.key -certfile ca.crt -name broker \
            -passout "pass:$STORE_PASS" -out broker.p12
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=clientAuth" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" \
            >client.ext
        quiet openssl req -newkey rsa:2048 -nodes -subj "/CN=client" -keyout client.key -out client.csr
        quiet openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile client.ext -out client.crt
        rm -f broker.csr client.csr
        chmod 600 ./*.key
    )
}

jaas_plain() {
    local u line="org.apache.kafka.common.security.plain.PlainLoginModule required"
    for u in "${USERS[@]}"; do
        line+=" user_$u=\"$u-secret\""
    done
    printf '%s;' "$line"
}

# Writes server.properties to $1 (default: the run dir's).
write_server_properties() {
    local out=${1:-$PROPS} plain scram=org.apache.kafka.common.security.scram.ScramLoginModule
    plain=$(jaas_plain)
    cat >"$out" <<EOF
# Written by scripts/kafka.sh on each start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$PORT_CONTROLLER
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$HOST:$PORT_PLAINTEXT,CONTROLLER://$HOST:$PORT_CONTROLLER,SASL_PLAINTEXT://$HOST:$PORT_SASL_PLAINTEXT,SSL://$HOST:$PORT_SSL,SASL_SSL://$HOST:$PORT_SASL_SSL,DELAYED://$HOST:$PORT_DELAYED
# DELAYED is advertised at the port a delay proxy listens on (see the header).
advertised.listeners=PLAINTEXT://$HOST:$PORT_PLAINTEXT,SASL_PLAINTEXT://$HOST:$PORT_SASL_PLAINTEXT,SSL://$HOST:$PORT_SSL,SASL_SSL://$HOST:$PORT_SASL_SSL,DELAYED://$HOST:$PORT_DELAYED_PROXY
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,DELAYED:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true

num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
log.retention.check.interval.ms=300000

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin;User:client
allow.everyone.if.no.acl.found=false

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram required;
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram required;

ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS_DIR/broker.p12
ssl.keystore.password=$STORE_PASS
ssl.key.password=$STORE_PASS
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
# Client certs are optional on the SSL listener only (a global ssl.client.auth applies to SSL
# listeners only anyway, with a warning). SASL_SSL authenticates by SASL.
listener.name.ssl.ssl.client.auth=requested
ssl.principal.mapping.rules=RULE:^CN=([^,]+)\$/\$1/,DEFAULT
EOF
}

write_client_configs() {
    local u
    for u in "${USERS[@]}"; do
        cat >"$RUN_DIR/client-$u.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$u" password="$u-secret";
EOF
    done
}

# Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 characters).
# One starting with '-' would be taken for an option by kafka-storage's argument parser, so
# such ids are drawn again.
random_cluster_id() {
    local id
    while :; do
        id=$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=\n')
        [[ $id == -* ]] || break
    done
    printf '%s' "$id"
}

format_storage() {
    if [[ ${KAFKA_KEEP_DATA:-0} == 1 && -f $DATA_DIR/meta.properties ]]; then
        log "keeping the data in $DATA_DIR (KAFKA_KEEP_DATA=1)"
        return 0
    fi
    local cid u mech args=()
    cid=$(random_cluster_id)
    for u in "${USERS[@]}"; do
        for mech in SCRAM-SHA-256 SCRAM-SHA-512; do
            args+=(--add-scram "$mech=[name=$u,password=$u-secret]")
        done
    done
    rm -rf "$DATA_DIR"
    mkdir -p "$DATA_DIR"
    quiet java -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$LIBS/*" kafka.tools.StorageTool \
        format --config "$PROPS" --cluster-id "$cid" "${args[@]}"
}

launch() {
    local heap
    read -r -a heap <<<"$HEAP_OPTS"
    : >"$LOG_FILE"
    nohup java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J_CONF" \
        -cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$LOG_FILE" 2>&1 9>&- &
    printf '%s\n' "$!" >"$PID_FILE"
}

wait_ready() {
    local pid deadline
    pid=$(read_pid) || return 1
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        alive "$pid" || { log "broker process $pid exited during start-up"; return 1; }
        # kcat spends its whole -m timeout on a refused connection, so wait for the port first.
        if port_in_use "$PORT_PLAINTEXT" && answers; then
            return 0
        fi
        sleep 0.2
    done
    log "broker did not answer within ${START_TIMEOUT}s"
    return 1
}

# ---------------------------------------------------------------------------------------------
# Subcommands

env_lines() {
    local kv
    for kv in \
        "KAFKA_PLAINTEXT=$HOST:$PORT_PLAINTEXT" \
        "KAFKA_SASL_PLAINTEXT=$HOST:$PORT_SASL_PLAINTEXT" \
        "KAFKA_SSL=$HOST:$PORT_SSL" \
        "KAFKA_SASL_SSL=$HOST:$PORT_SASL_SSL" \
        "KAFKA_DELAYED=$HOST:$PORT_DELAYED" \
        "KAFKA_DELAYED_PROXY=$HOST:$PORT_DELAYED_PROXY" \
        "KAFKA_CA_FILE=$TLS_DIR/ca.crt" \
        "KAFKA_CLIENT_CERT=$TLS_DIR/client.crt" \
        "KAFKA_CLIENT_KEY=$TLS_DIR/client.key" \
        "KAFKA_ADMIN_USER=admin" \
        "KAFKA_ADMIN_PASSWORD=admin-secret" \
        "KAFKA_USER=alice" \
        "KAFKA_PASSWORD=alice-secret" \
        "KAFKA_HOME=$KHOME" \
        "KAFKA_LIBS=$LIBS" \
        "KAFKA_IT_DIR=$RUN_DIR"; do
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
        if ! config_current; then
            log "running (pid $(read_pid)) with an older server.properties; \`start\` restarts it"
            return 1
        fi
        log "running (pid $(read_pid)), answering on $HOST:$PORT_PLAINTEXT"
        return 0
    fi
    if is_running; then
        log "process $(read_pid) is running but does not answer on $HOST:$PORT_PLAINTEXT"
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
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if alive "$pid"; then
        log "pid $pid still alive after 20s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.2; done
    fi
    rm -f "$PID_FILE"
    log "stopped (pid $pid)"
}

# True when the running broker was started with the server.properties this script writes now.
config_current() {
    local next=$PROPS.next same=0
    write_server_properties "$next"
    cmp -s "$next" "$PROPS" && same=1
    rm -f "$next"
    [[ $same == 1 ]]
}

cmd_start() {
    local t0 p ms
    t0=$(now_ms)
    mkdir -p "$RUN_DIR"
    ensure_kcat
    if is_running && answers && ! config_current; then
        log "the running broker's server.properties differs from this script's (listeners added?);" \
            "restarting it with a fresh data dir"
        cmd_stop
    fi
    if is_running; then
        if answers; then
            write_env_file
            log "already running (pid $(read_pid)) on $HOST:$PORT_PLAINTEXT"
            return 0
        fi
        log "pid $(read_pid) is alive but does not answer; restarting it"
        cmd_stop
    fi
    for p in "$PORT_PLAINTEXT" "$PORT_CONTROLLER" "$PORT_SASL_PLAINTEXT" "$PORT_SSL" "$PORT_SASL_SSL" \
        "$PORT_DELAYED"; do
        port_in_use "$p" && die "port $HOST:$p is already in use (another broker? KAFKA_IT_DIR=$RUN_DIR)"
    done
    fetch_jars
    write_log4j
    make_certs
    write_server_properties
    write_client_configs
    format_storage
    launch
    if ! wait_ready; then
        log "last lines of $LOG_FILE:"
        tail -n 60 "$LOG_FILE" >&2 || true
        local pid
        pid=$(read_pid) || true
        if [[ -n ${pid:-} ]] && alive "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
        rm -f "$PID_FILE"
        die "Kafka failed to start"
    fi
    write_env_file
    ms=$(($(now_ms) - t0))
    log "Kafka $KAFKA_VERSION started (pid $(read_pid)) in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s;" \
        "PLAINTEXT $HOST:$PORT_PLAINTEXT, env: $ENV_FILE"
}

# Kills the broker with SIGKILL, as a crash would (the data dir is left as it is).
cmd_kill() {
    local pid
    pid=$(read_pid) || true
    if [[ -n ${pid:-} ]] && alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
        log "killed (pid $pid)"
    fi
    rm -f "$PID_FILE"
}

run_tool() {
    local class=$1
    shift
    jars_complete || die "Kafka jars are not fetched yet; run: $0 start"
    [[ -f $LOG4J_CONF ]] || write_log4j
    local a bootstrap=(--bootstrap-server "$HOST:$PORT_PLAINTEXT")
    for a in "$@"; do
        case $a in --bootstrap-server | --bootstrap-server=* | --bootstrap-controller | --bootstrap-controller=*)
            bootstrap=() ;;
        esac
    done
    java -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$LIBS/*" "$class" "${bootstrap[@]}" "$@"
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
    case $cmd in start | stop | restart | kill) lock_run_dir ;; esac
    case $cmd in
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart) cmd_stop && cmd_start ;;
        kill) cmd_kill ;;
        status) cmd_status ;;
        env) cmd_env ;;
        acl) run_tool org.apache.kafka.tools.AclCommand "$@" ;;
        topics) run_tool org.apache.kafka.tools.TopicCommand "$@" ;;
        *) usage ;;
    esac
}

main "$@"
