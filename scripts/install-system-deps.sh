#!/usr/bin/env bash
# Installs the Debian packages the full test suite uses, when they are missing:
#   chromium, chromium-driver  the browser test drives /usr/bin/chromium (Playwright cannot
#                              download its own browser here)
#   dataset-fashion-mnist      Fashion-MNIST's files, one of the data sources digitnet reads
# Without root or apt-get it only says what is missing; the tests that need it say so too.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium chromium-driver)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "note: missing Debian packages for some tests: ${missing[*]}" >&2
    exit 0
fi
echo "Installing ${missing[*]} (apt-get)..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
