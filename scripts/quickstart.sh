#!/bin/bash
# The main job on a fresh Debian machine: install dependencies, build and install rootstock,
# build a Debian stable minbase root, and open a shell in it with a 100 MiB memory limit.
# Run as root from the checkout: ./scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cmake --preset release >/dev/null
cmake --build out/release -j"$(nproc)"
cmake --install out/release --prefix /usr/local >/dev/null

mkroot stable minbase
exec runroot stable-minbase -m 100M bash
