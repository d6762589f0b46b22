#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine (root), then run it.
# The real-service tests (Prometheus, Alertmanager, keepalived, HAProxy, etcd, Chromium) use
# these Debian packages; with CI=true a missing one fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
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

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
