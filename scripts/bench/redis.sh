#!/usr/bin/env bash
# The Redis server that BullMQ runs on in `make bench` (docs/benchmarks.md):
# Debian's redis-server on 127.0.0.1:$DTQ_BENCH_REDIS_PORT (default 21579),
# durable as BullMQ's documentation asks of a production Redis: the
# append-only file on, fsynced every second (`--appendonly yes
# --appendfsync everysec`), no eviction. Its data is thrown away: `start`
# begins from an empty folder, `stop` removes it. `flush` empties it between
# two runs, as dtq's engine_bench starts from an empty data folder each run.
#
#   scripts/bench/redis.sh start|stop|status|env|flush
#
# It is not the test server of scripts/servers/redis.sh (no persistence
# there, another port): a bench never shares a server with a running test.
# It is started and stopped by that script, with these settings.
# Environment: DTQ_BENCH_REDIS_PORT, DTQ_SERVERS_DIR.
redis_name=bench-redis
redis_port_var=DTQ_BENCH_REDIS_PORT
redis_default_port=21579
# No RDB snapshots: the AOF is the persistence, as configured for BullMQ.
redis_flags=(--save "" --appendonly yes --appendfsync everysec --maxmemory-policy noeviction
  --loglevel warning)
redis_fresh=1
do_env() { echo "DTQ_BENCH_REDIS_PORT=$port"; }
# shellcheck source-path=SCRIPTDIR source=../servers/redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/../servers/redis.sh"
