#!/usr/bin/env bash
# For the lent GPU machine, which has no package registry: unpack the header-only
# dependencies carried in .deps/ (copied from this machine's Debian packages) into /usr.
set -euo pipefail
cd "$(dirname "$0")/.."
cp -r --update=none .deps/usr/. /usr/ 2>/dev/null || cp -rn .deps/usr/. /usr/
