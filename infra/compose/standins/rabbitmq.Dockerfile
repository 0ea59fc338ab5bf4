# Test stand-in for the upstream rabbitmq image: Debian 12's rabbitmq-server,
# with guest allowed from other containers as upstream's image allows it.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
 && printf '%s\n' 'loopback_users = none' 'log.console = true' 'log.console.level = warning' \
      'log.file = false' >/etc/rabbitmq/rabbitmq.conf
USER rabbitmq
ENV HOME=/var/lib/rabbitmq
EXPOSE 5672
HEALTHCHECK --interval=5s --timeout=10s --retries=20 CMD ["rabbitmq-diagnostics", "-q", "ping"]
CMD ["rabbitmq-server"]
