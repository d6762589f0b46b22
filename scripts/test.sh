#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine (root), then run it.
# The real-service tests (Prometheus, Alertmanager, keepalived, HAProxy, etcd, Chromium) use
# these Debian packages; with CI=true a missing one fails the run instead of skipping.
# Python packages go into a virtual environment (.venv, or $WATCHTOWER_VENV): Debian 12's own
# python3 refuses a system-wide `pip install` (PEP 668, "externally-managed-environment").
# Run without arguments (as CI does), the unit and integration tests then run once more in a
# venv under /tmp that holds the lowest versions pyproject.toml allows
# (scripts/lowest-constraints.txt), so every declared floor is a tested one.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  python3-venv                         # `python3 -m venv` on Debian's python3 (ensurepip)
  prometheus prometheus-alertmanager   # promtool, amtool, real scrape + rules + delivery
  keepalived nftables iproute2         # VRRP in network namespaces, fault injection
  haproxy                              # round-robin in front of test apiservers
  etcd-server etcd-client              # one member with mTLS
  chromium                             # status page in a real browser
  openssl                              # certificates made the cron-script way
  ca-certificates                      # the real /etc/ssl/certs bundle `check certs` is tested on
  systemd                              # systemd-analyze verify|security for deploy/systemd
)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PIP=(-m pip install -q --disable-pip-version-check)
VENV="${WATCHTOWER_VENV:-$PWD/.venv}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" "${PIP[@]}" -e '.[test]'

status=0
"$VENV/bin/python" -m pytest "$@" || status=$?

if [[ $status -eq 0 && $# -eq 0 ]]; then
  LOWEST="${WATCHTOWER_LOWEST_VENV:-/tmp/watchtower-lowest-venv}"
  rm -rf "$LOWEST"
  python3 -m venv "$LOWEST"
  "$LOWEST/bin/python" "${PIP[@]}" -c scripts/lowest-constraints.txt -e '.[test]'
  echo "== unit + integration tests with the lowest allowed versions:" \
    "$(grep -v '^#' scripts/lowest-constraints.txt | tr '\n' ' ')"
  # ruff and mypy judge the source with the pinned dev toolchain (the main run above); with the
  # lowest library versions mypy would judge their older type stubs instead, so skip that file.
  "$LOWEST/bin/python" -m pytest -q -p no:cacheprovider tests/unit tests/integration \
    --ignore tests/integration/test_static_gates.py || status=$?
fi
exit "$status"
