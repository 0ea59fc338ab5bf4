# Test stand-in for the upstream mongo image: FerretDB v1 on SQLite (the
# MongoDB wire protocol), the binary scripts/servers/ferretdb.sh builds.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN groupadd --system --gid 10003 ferretdb \
 && useradd --system --uid 10003 --gid ferretdb --home-dir /var/lib/ferretdb ferretdb \
 && mkdir -p /var/lib/ferretdb/data /var/lib/ferretdb/state \
 && chown -R ferretdb:ferretdb /var/lib/ferretdb
COPY ferretdb /usr/local/bin/ferretdb
USER ferretdb
EXPOSE 27017
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/27017"]
ENTRYPOINT ["ferretdb", "--listen-addr=0.0.0.0:27017", "--handler=sqlite", \
  "--sqlite-url=file:/var/lib/ferretdb/data/", "--state-dir=/var/lib/ferretdb/state", \
  "--debug-addr=-", "--telemetry=disable", "--log-level=warn", "--log-format=text"]
