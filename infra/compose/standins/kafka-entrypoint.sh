#!/usr/bin/env bash
# The Kafka stand-in's start: server.properties from the KAFKA_* variables
# (KAFKA_ADVERTISED_LISTENERS -> advertised.listeners, as the upstream image
# does), the log storage formatted on the first start, then the broker.
set -euo pipefail
config=/var/lib/kafka/server.properties
data=${KAFKA_LOG_DIRS:-/var/lib/kafka/data}
{
  [[ -n ${KAFKA_LOG_DIRS:-} ]] || echo "log.dirs=$data"
  while IFS='=' read -r name value; do
    [[ $name == KAFKA_* && $name != KAFKA_HEAP_OPTS && $name != KAFKA_CLUSTER_ID ]] || continue
    key=${name#KAFKA_}
    key=${key,,}
    echo "${key//_/.}=$value"
  done < <(env)
} >"$config"
cat >/var/lib/kafka/log4j2.properties <<'CONF'
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
CONF
classpath=$(printf '%s:' /opt/kafka/libs/*.jar)
java_options=(${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true -Dlog4j2.configurationFile=/var/lib/kafka/log4j2.properties
  -Dkafka.logs.dir=/var/lib/kafka/logs)
if [[ ! -f $data/meta.properties ]]; then
  java "${java_options[@]}" -cp "$classpath" kafka.tools.StorageTool format \
    --cluster-id "${KAFKA_CLUSTER_ID:-dtq-compose-kraft-0001}" --config "$config" >/dev/null
fi
exec java "${java_options[@]}" -cp "$classpath" kafka.Kafka "$config"
