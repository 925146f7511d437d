#!/usr/bin/env bash
# Chromium from the system packages, for the browser tests (tests/browser.py drives it through
# playwright, which is told to use this binary and never downloads its own). .ci/run calls it as
# root. Safe to call again; without root or apt-get it says why and exits 0 (those tests skip).
set -euo pipefail

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    echo "chromium: already installed"; exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium: not root, not installed (the browser tests will skip)"; exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "chromium: no apt-get to install it (the browser tests will skip)"; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium: $(chromium --version)"
