#!/usr/bin/env bash
# An Apache Kafka 4.x test broker in KRaft mode (one node, broker and
# controller in one JVM) on 127.0.0.1:$DTQ_KAFKA_PORT (default 21092; the
# controller listener on $DTQ_KAFKA_CONTROLLER_PORT, default port + 1), in
# $DTQ_SERVERS_DIR/kafka. Plaintext, no authentication, topics created on
# first use; log storage is formatted on the first start and kept until
# `clean`.
#
#   scripts/servers/kafka.sh start|stop|restart|status|env|clean|fetch
#   scripts/servers/kafka.sh topics ARGS...   kafka-topics against this broker
#                                             (e.g. topics --list)
#
# The jars come from Maven Central, as pinned in kafka-<version>.jars beside
# this script; the first start downloads them (`fetch` does only that) into
# $DTQ_CACHE_DIR/maven, verified, and later starts use the cache; concurrent
# callers download each jar once (cache_once in ../cache.sh). Needs a
# Java 17 or newer runtime (`java` on PATH, or $JAVA_HOME).
#
# Environment: DTQ_KAFKA_PORT, DTQ_KAFKA_CONTROLLER_PORT, DTQ_SERVERS_DIR,
# DTQ_CACHE_DIR, DTQ_MAVEN_REPOSITORY (default Maven Central),
# DTQ_KAFKA_HEAP (default 512m), DTQ_SERVER_START_TIMEOUT (seconds,
# default 90).
#
# SASL_SSL, only when DTQ_KAFKA_SASL_SSL_PORT is set: a third listener on
# 127.0.0.1:$DTQ_KAFKA_SASL_SSL_PORT, TLS with the PEM files
# DTQ_TLS_CERT_FILE and DTQ_TLS_KEY_FILE (the key in PKCS#8, unencrypted;
# Kafka's PEM keystore, 2.7+), SASL PLAIN with the one user
# DTQ_KAFKA_SASL_USER / DTQ_KAFKA_SASL_PASSWORD. The plaintext listener stays
# (the probe and the brokers' own traffic use it).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kafka_version=4.3.1
jar_list=$(dirname "${BASH_SOURCE[0]}")/kafka-$kafka_version.jars
maven_repository=${DTQ_MAVEN_REPOSITORY:-https://repo1.maven.org/maven2}

port=${DTQ_KAFKA_PORT:-21092}
controller_port=${DTQ_KAFKA_CONTROLLER_PORT:-$((port + 1))}
server_init kafka
# shellcheck disable=SC2034 # read by lib.sh
SERVER_MATCH="java .*kafka\.Kafka $SERVER_DIR/server\.properties"
config=$SERVER_DIR/server.properties

java_bin() {
  local java=${JAVA_HOME:+$JAVA_HOME/bin/}java
  command -v "$java" >/dev/null || die "java not found; Kafka $kafka_version needs Java 17 or newer"
  local major
  major=$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  ((${major%%.*} >= 17)) || die "$java is Java $major; Kafka $kafka_version needs Java 17 or newer"
  echo "$java"
}

# Downloads what is missing and prints the class path.
do_fetch() {
  local classpath="" coordinate sha256 group artifact version path
  # The jars take about 40 MiB; the margin is for the broker's own logs.
  cache_require_space "$DTQ_CACHE_DIR" 200 "the jars of Kafka $kafka_version"
  while read -r coordinate sha256; do
    [[ -z $coordinate || $coordinate == \#* ]] && continue
    IFS=: read -r group artifact version <<<"$coordinate"
    path=${group//.//}/$artifact/$version/$artifact-$version.jar
    fetch_verified "$maven_repository/$path" "$DTQ_CACHE_DIR/maven/$path" "$sha256"
    classpath+=${classpath:+:}$DTQ_CACHE_DIR/maven/$path
  done <"$jar_list"
  echo "$classpath"
}

ping() { "$(server_python)" "$(dirname "${BASH_SOURCE[0]}")/probe.py" kafka "$port"; }

sasl_ssl_port=${DTQ_KAFKA_SASL_SSL_PORT:-}

write_config() {
  mkdir -p "$SERVER_DIR/data"
  local listeners="PLAINTEXT://$DTQ_SERVERS_HOST:$port" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  [[ -z $sasl_ssl_port ]] || {
    listeners+=",SASL_SSL://$DTQ_SERVERS_HOST:$sasl_ssl_port"
    protocols+=",SASL_SSL:SASL_SSL"
  }
  cat >"$config" <<CONF
# Written by scripts/servers/kafka.sh; rewritten at every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$DTQ_SERVERS_HOST:$controller_port
listeners=$listeners,CONTROLLER://$DTQ_SERVERS_HOST:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$SERVER_DIR/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
transaction.state.log.num.partitions=4
CONF
  [[ -z $sasl_ssl_port ]] || write_sasl_ssl_config
  cat >"$SERVER_DIR/log4j2.properties" <<'CONF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
CONF
  write_tools_config
}

# The SASL_SSL listener's part of the configuration: a PEM keystore (key and
# certificate in one file) and the PLAIN user in the listener's JAAS line.
write_sasl_ssl_config() {
  [[ -r ${DTQ_TLS_CERT_FILE:-} && -r ${DTQ_TLS_KEY_FILE:-} ]] ||
    die "DTQ_KAFKA_SASL_SSL_PORT needs readable DTQ_TLS_CERT_FILE and DTQ_TLS_KEY_FILE"
  local user=${DTQ_KAFKA_SASL_USER:?DTQ_KAFKA_SASL_SSL_PORT needs DTQ_KAFKA_SASL_USER}
  local password=${DTQ_KAFKA_SASL_PASSWORD:?DTQ_KAFKA_SASL_SSL_PORT needs DTQ_KAFKA_SASL_PASSWORD}
  [[ $user$password =~ ^[A-Za-z0-9._-]+$ ]] ||
    die "DTQ_KAFKA_SASL_USER and DTQ_KAFKA_SASL_PASSWORD: letters, digits, '.', '_' and '-' only (a JAAS line)"
  (umask 077 && cat "$DTQ_TLS_KEY_FILE" "$DTQ_TLS_CERT_FILE" >"$SERVER_DIR/keystore.pem")
  (umask 077 && cat >>"$config" <<CONF
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$SERVER_DIR/keystore.pem
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user="$password";
CONF
  )
}

# The command-line tools log warnings only, to stderr.
write_tools_config() {
  cat >"$SERVER_DIR/tools-log4j2.properties" <<'CONF'
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
CONF
}

java_options=(
  -Xms128m "-Xmx${DTQ_KAFKA_HEAP:-512m}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$SERVER_DIR/log4j2.properties"
  "-Dkafka.logs.dir=$SERVER_DIR/logs"
)

do_start() {
  if server_running && ping >/dev/null 2>&1; then
    say "already running on $DTQ_SERVERS_HOST:$port"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  local started
  started=$(now_seconds)
  local java classpath
  java=$(java_bin)
  classpath=$(do_fetch)
  require_free_port "$port" DTQ_KAFKA_PORT
  require_free_port "$controller_port" DTQ_KAFKA_CONTROLLER_PORT
  [[ -z $sasl_ssl_port ]] || require_free_port "$sasl_ssl_port" DTQ_KAFKA_SASL_SSL_PORT
  write_config
  if [[ ! -f $SERVER_DIR/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$("$(server_python)" -c 'import base64, uuid
while True:
    text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not text.startswith("-"):
        print(text)
        break')
    "$java" "${java_options[@]}" -cp "$classpath" kafka.tools.StorageTool format \
      --cluster-id "$cluster_id" --config "$config" >"$SERVER_DIR/format.log" 2>&1 ||
      {
        cat "$SERVER_DIR/format.log" >&2
        die "formatting the log storage failed (log: $SERVER_DIR/format.log)"
      }
  fi
  server_launch "$java" "${java_options[@]}" -cp "$classpath" kafka.Kafka "$config"
  server_wait_ready "${DTQ_SERVER_START_TIMEOUT:-90}" ping
  [[ -z $sasl_ssl_port ]] || server_wait_ready 10 port_open "$sasl_ssl_port"
  echo "kafka ready on $DTQ_SERVERS_HOST:$port in $(elapsed_since "$started")s (log: $SERVER_LOG)"
}

do_stop() { server_stop "${DTQ_SERVER_STOP_TIMEOUT:-60}"; }
do_status() { server_status "$port" ping && ping; }
do_env() { echo "DTQ_KAFKA_BOOTSTRAP=$DTQ_SERVERS_HOST:$port"; }

case ${1:-} in
  fetch)
    do_fetch >/dev/null
    say "jars of Kafka $kafka_version present in $DTQ_CACHE_DIR/maven"
    ;;
  topics)
    shift
    classpath=$(do_fetch)
    write_tools_config
    exec "$(java_bin)" -Xmx256m -Dlog4j2.configurationFile="$SERVER_DIR/tools-log4j2.properties" -cp "$classpath" \
      org.apache.kafka.tools.TopicCommand --bootstrap-server "$DTQ_SERVERS_HOST:$port" "$@"
    ;;
  *) server_main "$@" ;;
esac
