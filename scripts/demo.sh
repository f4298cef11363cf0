#!/usr/bin/env bash
# Sets up, builds a release fightwatch, and runs the main job: the bundled clips replayed as
# three looping cameras in real time through capture -> inference -> alerts -> WebSocket, with
# the server on http://127.0.0.1:8080 (docs/fightwatch.example.toml). Runs until Ctrl-C.
#
# The web console arrives with issue #7; until then the server's API is the interface: the script
# prints a viewer token and where to connect.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
cargo build --release --locked -p fightwatch
bin=target/release/fightwatch
token=$("$bin" token --user demo --role viewer --ttl 12h --data-dir fightwatch-data)
cat <<TXT

demo: fightwatch on http://127.0.0.1:8080 with 3 cameras (entrance, lobby, yard) replaying fixtures
demo: the first start prints the admin password below (also in fightwatch-data/admin_password)
demo: live alerts:  ws://127.0.0.1:8080/ws?token=$token
demo: history:      curl -H "Authorization: Bearer $token" http://127.0.0.1:8080/api/alerts
demo: cameras:      curl -H "Authorization: Bearer $token" http://127.0.0.1:8080/api/cameras
demo: Ctrl-C stops it

TXT
exec "$bin" run --config docs/fightwatch.example.toml "$@"
