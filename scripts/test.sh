#!/usr/bin/env bash
# Runs every fightwatch test on this machine, installing what they need first (scripts/setup.sh).
#
#   ./scripts/test.sh            set up, then: rustfmt check, clippy -D warnings, the wire
#                                contracts (generated TypeScript, OpenAPI), cargo test,
#                                reproducibility of generated fixtures and models, the Python
#                                scripts' tests, the web console's unit tests
#                                (vitest) and end-to-end tests in Chromium
#                                (playwright-core; screenshots in target/e2e/)
#
# Exits non-zero on the first failure. Each step prints its wall time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
# The Node.js setup.sh chose (the machine's, or one from PyPI in .cache/node).
source scripts/node-env.sh

step() {
  local name=$1; shift
  printf '\n\033[1;34m==> %s\033[0m\n' "$name"
  local t0=$SECONDS
  "$@"
  printf '\033[1;32m<== %s ok (%ds)\033[0m\n' "$name" $((SECONDS - t0))
}

# Tests find ONNX Runtime in .cache/onnxruntime themselves; an inherited ORT_DYLIB_PATH would
# override that, so it must be the provisioned one if set at all.
unset ORT_DYLIB_PATH

# A CI run builds once from scratch: incremental caches (~3 GB) would only cost disk there.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

reproducible_test_model() {
  local tmp; tmp=$(mktemp -d)
  .cache/venv/bin/python scripts/make_test_model.py --out "$tmp" >/dev/null
  cmp "$tmp/tiny_clip_classifier.onnx" fixtures/onnx/tiny_clip_classifier.onnx
  cmp "$tmp/tiny_clip_classifier.expected.json" fixtures/onnx/tiny_clip_classifier.expected.json
  cmp "$tmp/tiny_image_model.onnx" fixtures/onnx/tiny_image_model.onnx
  rm -rf "$tmp"
}

reproducible_fixtures() {
  local tmp; tmp=$(mktemp -d)
  .cache/venv/bin/python scripts/make_fixtures.py --out "$tmp" >/dev/null
  diff -r --exclude=onnx --exclude=parity --exclude=db --exclude=corner "$tmp" fixtures
  # The real fights in a corner, from ../shared/data's footage.
  python3 scripts/make_corner_fixtures.py --out "$tmp/corner" 2>/dev/null
  diff -r --exclude=README.md --exclude=LICENSE "$tmp/corner" fixtures/corner
  rm -rf "$tmp"
}

# Node.js from PyPI when the machine's is too old (Debian 12's nodejs is 18): a fake old `node`
# first on PATH, setup_node.sh into a temp dir, and the console built with what it installed.
node_from_pypi() {
  local tmp; tmp=$(mktemp -d)
  mkdir "$tmp/old"
  printf '#!/bin/sh\n[ "$1" = --version ] && echo v18.19.0 && exit 0\nexit 1\n' > "$tmp/old/node"
  chmod +x "$tmp/old/node"
  PATH="$tmp/old:$PATH" bash scripts/setup_node.sh "$tmp/node"
  "$tmp/node/bin/node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)'
  (cd web && PATH="$tmp/node/bin:$PATH" npm run -s build -- --outDir "$tmp/dist" --emptyOutDir --logLevel warn)
  test -f "$tmp/dist/index.html"
  rm -rf "$tmp"
}

step "rustfmt" cargo fmt --all --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "GPU features compile" cargo check -p fightwatch --features cuda,tensorrt --locked
# The wire contracts: web/src/generated/protocol.ts and docs/openapi.json are made from the
# Rust types (a changed field fails here until they are regenerated), and the console must
# compile against the generated types.
contracts() {
  cargo test --locked -q -p fightwatch-protocol --lib typescript
  cargo test --locked -q -p fightwatch-broadcaster --lib openapi
  (cd web && npx tsc --noEmit)
}

step "contracts: generated TypeScript and OpenAPI are current; the console type-checks" contracts
step "cargo test" cargo test --workspace --locked
step "generated test model is reproducible" reproducible_test_model
step "fixtures are reproducible (byte for byte)" reproducible_fixtures
step "Node.js from PyPI when the machine's is too old" node_from_pypi
step "python script tests" .cache/venv/bin/python -m unittest discover -s scripts/tests -v
if [ -f web/package.json ]; then
  step "web unit tests (vitest)" bash -c 'cd web && npm test --silent'
  # The console in Debian's Chromium against the real binary replaying fight fixtures;
  # screenshots land in target/e2e/. `cargo test` above built target/debug/fightwatch (a
  # `cargo build -p fightwatch` here would rebuild it with other features for a minute).
  step "web end-to-end tests (playwright-core, chromium)" bash -c \
    'cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 FIGHTWATCH_BIN="$PWD/../target/debug/fightwatch" npm run -s e2e'
fi

printf '\n\033[1;32mall tests passed\033[0m\n'
