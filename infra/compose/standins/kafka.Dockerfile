# Test stand-in for the upstream apache/kafka image: the Kafka jars the
# project pins (scripts/servers/kafka-4.3.1.jars, fetched from Maven Central
# into the build context as libs/) on Debian 12's Java 17, in KRaft mode,
# configured from the same KAFKA_* variables the upstream image reads.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10002 kafka \
 && useradd --system --uid 10002 --gid kafka --home-dir /var/lib/kafka kafka \
 && mkdir -p /var/lib/kafka/data && chown -R kafka:kafka /var/lib/kafka
COPY libs /opt/kafka/libs
COPY kafka-entrypoint.sh /opt/kafka/kafka-entrypoint.sh
USER kafka
EXPOSE 9092
HEALTHCHECK --interval=5s --timeout=3s --retries=30 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
ENTRYPOINT ["/opt/kafka/kafka-entrypoint.sh"]
