#!/bin/bash
# Install what the tests need, build three times (debug, ASan+UBSan, release; warnings as
# errors) and run the whole suite: unit, integration, network (the real Debian archive) and
# fuzz-corpus replays.
# Run as root from the checkout: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --test

jobs=$(nproc)
cmake --preset dev >/dev/null
cmake --build out/dev -j"$jobs"
cmake --preset asan >/dev/null
cmake --build out/asan -j"$jobs"
# The optimised build users get (README's first command) has warnings of its own (-O2
# flow analysis); it must compile cleanly too.
cmake --preset release >/dev/null
cmake --build out/release -j"$jobs"

# The dev build runs everything; the sanitizer build runs all but the network tests, which
# exercise the same code paths against a slower, remote peer.
ctest --test-dir out/dev --output-on-failure -j"$jobs"
ctest --test-dir out/asan --output-on-failure -j"$jobs" -LE network
