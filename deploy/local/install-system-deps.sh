#!/usr/bin/env bash
# Installs, from Debian's packages and only when absent, what the native stack needs:
# PostgreSQL 15 server binaries, a Java 17+ runtime, Maven, kcat (a non-Python Kafka client)
# wrk (the HTTP load generator of the benchmarks), Prometheus (the console's charts) and
# Chromium (the console's browser tests, driven by Playwright).
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
java_ok() {
  local java="${ANNALS_STACK_JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/java}}"
  java="${java:-$(command -v java || true)}"
  [ -n "$java" ] && [ -x "$java" ] || return 1
  local major
  major=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ "${major:-0}" -ge 17 ]
}
java_ok || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v kcat >/dev/null || need+=(kcat)
command -v wrk >/dev/null || need+=(wrk)
command -v prometheus >/dev/null || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)

if ((${#need[@]} == 0)); then
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
# Debian's postgresql package would create and start a default cluster on 5432: not wanted here.
if [[ " ${need[*]} " == *" postgresql-15 "* ]]; then
  $sudo mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/annals.conf >/dev/null
fi
$sudo apt-get update -q
# Debian's prometheus package would start one on :9090 where an init system runs: the stack
# starts its own (annals stack up), so services stay stopped during the install.
if [[ " ${need[*]} " == *" prometheus "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
