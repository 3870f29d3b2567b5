#!/usr/bin/env bash
# Installs the system programs the test suites run for real: redis-server (cluster suites)
# and chromium (browser suite). Debian packages; needs root, as on CI and dev machines here.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "tests need the Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]} for the test suites" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package may start a system redis on 6379; the tests start their own on free ports.
if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
