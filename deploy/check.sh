#!/usr/bin/env bash
# Second command of the README, and what CI runs: format, lints, and every test against real
# PostgreSQL and RabbitMQ (started or installed as needed, like up.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh

ensure_services
# promtool checks the alerting rules and a live scrape (tests/it/observability.rs); Debian ships
# it in the prometheus package (no service is started by installing it).
if ! command -v promtool >/dev/null; then
  echo "installing promtool (Debian's prometheus package)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# Some tests start RabbitMQ nodes beside the system's broker: one with an AMQPS listener
# (tests/it/tls.rs) and a three-node cluster (tests/it/cluster.rs, the cluster fault test).
trap 'bash deploy/rabbitmq-node.sh stop accredito-tls; bash deploy/rabbitmq-cluster.sh stop' EXIT
# The console's browser tests drive headless Chromium through chromedriver (Debian's
# packages); they fail, saying so, when these are missing.
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi

# Build from the committed query cache; tests get their own databases from this server.
export SQLX_OFFLINE=true
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast --retries 0
else
  cargo test --no-fail-fast
fi
# Kills and restarts accredito, RabbitMQ and PostgreSQL under load (about 2 minutes plus a
# release build); ACCREDITO_SKIP_FAULT_TEST=1 leaves it out of a quick local run.
if [ "${ACCREDITO_SKIP_FAULT_TEST:-0}" != 1 ]; then
  echo "== fault test (G1-G5)"
  bash deploy/fault-test.sh
  # Two ingest and two worker processes on a three-node RabbitMQ cluster: node and process
  # kills under load (about 2 minutes, reusing the release build).
  echo "== cluster fault test"
  bash deploy/cluster-fault-test.sh
fi
