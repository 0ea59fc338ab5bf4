# dtq's image plus one plugin image's libraries in its plugin folder: a new
# layer of a few kilobytes on top of dtq's, with nothing of dtq rebuilt.
#   docker build -f infra/docker/worker-with-plugin.Dockerfile \
#     --build-arg DTQ_IMAGE=dtq:latest --build-arg PLUGIN_IMAGE=dtq-plugin-hello:latest infra/docker
ARG DTQ_IMAGE=dtq:latest
ARG PLUGIN_IMAGE=dtq-plugin-hello:latest
# hadolint ignore=DL3006
FROM ${PLUGIN_IMAGE} AS plugin

# hadolint ignore=DL3006
FROM ${DTQ_IMAGE}
COPY --from=plugin /plugins/ /opt/dtq/plugins/
