# The recorded stand-in for the internet providers (tests/fake_provider), so
# that the test stack's plugins reach no real provider.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log
COPY fake_provider.py recordings.json /opt/fake_provider/
USER 65534:65534
EXPOSE 18090
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/18090"]
ENTRYPOINT ["python3", "/opt/fake_provider/fake_provider.py", "--bind", "0.0.0.0", "--port", "18090"]
