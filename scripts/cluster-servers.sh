# Sourced by scripts/cluster-demo.sh and scripts/bench_cluster.sh: a throw-away PostgreSQL and
# Redis on free loopback ports, in a temp dir. PostgreSQL refuses to run as root: as root its
# programs run as the postgres user (Debian's package creates it).
#
#   cluster_servers_start     sets CLUSTER_WORK, PG_PORT, REDIS_PORT, REDIS_PID, PG_BIN,
#                             CLUSTER_DB_URL (database "fightwatch"), CLUSTER_REDIS_URL
#   cluster_servers_stop      stops both and deletes the temp dir

cluster_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cluster_as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cluster_servers_start() {
  CLUSTER_WORK=$(mktemp -d /tmp/fightwatch-cluster-XXXX)
  chmod 755 "$CLUSTER_WORK"
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_PORT=$(cluster_free_port)
  mkdir -p "$CLUSTER_WORK/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$CLUSTER_WORK/pg"; fi
  cluster_as_pg "$PG_BIN/initdb" -D "$CLUSTER_WORK/pg" -U fightwatch -A trust -E UTF8 --no-sync >/dev/null
  cluster_as_pg "$PG_BIN/pg_ctl" start -D "$CLUSTER_WORK/pg" -w -l "$CLUSTER_WORK/pg/log" \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$CLUSTER_WORK/pg" >/dev/null
  "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U fightwatch -d postgres -c "CREATE DATABASE fightwatch"
  REDIS_PORT=$(cluster_free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$CLUSTER_WORK" --logfile "$CLUSTER_WORK/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  CLUSTER_DB_URL="postgres://fightwatch@127.0.0.1:$PG_PORT/fightwatch"
  CLUSTER_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
}

cluster_servers_stop() {
  [ -n "${REDIS_PID:-}" ] && kill -TERM "$REDIS_PID" 2>/dev/null || true
  [ -n "${CLUSTER_WORK:-}" ] && [ -d "$CLUSTER_WORK/pg" ] &&
    cluster_as_pg "$PG_BIN/pg_ctl" stop -D "$CLUSTER_WORK/pg" -m fast -w >/dev/null 2>&1 || true
  [ -n "${CLUSTER_WORK:-}" ] && rm -rf "$CLUSTER_WORK"
  return 0
}
