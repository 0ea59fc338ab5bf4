# A plugin as an image of its own: the .so and nothing else (FROM scratch),
# here the SDK's hello example. A worker gets it without dtq's image being
# rebuilt: Kubernetes mounts it as an image volume, or a two-line derived
# image copies it into the plugin folder (worker-with-plugin.Dockerfile).
#
# Targets:
#   plugin (default)  compiles the example against the SDK, from the repository root:
#                       docker build -f infra/docker/plugin.Dockerfile -t dtq-plugin-hello .
#   prebuilt          packs a hello.so built outside (a context holding plugins/hello.so):
#                       docker build -f infra/docker/plugin.Dockerfile --target prebuilt CONTEXT
ARG BASE=debian:bookworm-slim

FROM scratch AS prebuilt
COPY plugins/hello.so /plugins/hello.so

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ cmake make nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*
COPY plugin-sdk /src/plugin-sdk
# The SDK installed as a third party gets it, then the example built against it.
RUN cmake -S /src/plugin-sdk -B /build/sdk \
 && cmake --install /build/sdk --prefix /opt/dtq-sdk \
 && cmake -S /src/plugin-sdk/examples/hello -B /build/hello -DCMAKE_PREFIX_PATH=/opt/dtq-sdk \
      -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build/hello \
 && strip --strip-unneeded /build/hello/hello.so

FROM scratch AS plugin
COPY --from=build /build/hello/hello.so /plugins/hello.so
