#!/usr/bin/env bash
# Login-flood benchmark on loopback (docs/security.md): `fightwatch serve` (release) and
# `fightwatch-loadgen --login-flood`: 48 connections post wrong passwords for 10 s, once all
# from one address (per-address limits answer) and once from 48 addresses (the hashing gate
# answers), while /healthz is timed from another address and the server's RSS is sampled.
# Bounded: each run stops by itself.
#
#   bash scripts/bench_login_flood.sh [SECONDS]      (default 10)
#
# Prints one JSON line per run and writes them to target/bench/login_flood.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
secs=${1:-10}
cargo build --release --locked -q -p fightwatch -p fightwatch-loadgen
mkdir -p target/bench
out=target/bench/login_flood.jsonl
: > "$out"
data=$(mktemp -d)
export FIGHTWATCH_JWT_SECRET="bench secret, long enough to be fine"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=error target/release/fightwatch serve --bind "127.0.0.1:$port" --data-dir "$data" 2>target/bench/login-flood-server.log &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
for spread in "" "--spread-addresses"; do
  target/release/fightwatch-loadgen --url "ws://127.0.0.1:$port/ws" --login-flood "$secs" --clients 48 \
    $spread --server-pid "$server" --json | tee -a "$out"
done
