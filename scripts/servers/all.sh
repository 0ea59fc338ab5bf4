#!/usr/bin/env bash
# Starts, stops or reports every test server (or the ones named), one after
# the other; see each server's script for its port and folder.
#
#   scripts/servers/all.sh start|stop|restart|status|env|clean [redis rabbitmq kafka ferretdb]
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
command=${1:-}
shift || true
servers=("$@")
((${#servers[@]})) || servers=(redis rabbitmq kafka ferretdb)
case $command in
  start | stop | restart | status | env | clean) ;;
  *)
    echo "usage: $(basename "$0") start|stop|restart|status|env|clean [redis rabbitmq kafka ferretdb]" >&2
    exit 2
    ;;
esac
failed=0
for server in "${servers[@]}"; do
  [[ -x $here/$server.sh ]] || {
    echo "no server named $server" >&2
    exit 2
  }
  "$here/$server.sh" "$command" || failed=1
done
exit $failed
