#!/usr/bin/env bash
# First command of the README: everything a new machine needs, then `accredito serve`.
#   - PostgreSQL and RabbitMQ made reachable (running ones used; else started; else installed)
#   - a master key and admin token generated once into .local/accredito.env (git-ignored)
#   - the release build, the database created and migrated, a demo Stripe profile
#   - `accredito demo` (the whole product in a minute, on a database of its own)
#   - the webhook URL and signing secret printed, then the service runs in the foreground
# `ACCREDITO_STRIPE_MODE=test deploy/up.sh` runs a test-mode deployment (test keys, test events:
# what `stripe listen` forwards), with a demo profile of that mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/services.sh

ensure_services

mkdir -p .local
env_file=.local/accredito.env
if [ ! -f "$env_file" ]; then
  umask 077
  {
    echo "DATABASE_URL=${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/accredito}"
    echo "AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
    echo "ACCREDITO_MASTER_KEY=$(head -c 32 /dev/urandom | base64)"
    echo "ACCREDITO_ADMIN_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } >"$env_file"
  echo "generated a master key and an admin token in $env_file (keep it; it is git-ignored)"
fi
mode="${ACCREDITO_STRIPE_MODE:-}"
set -a
# shellcheck disable=SC1090
source "$env_file"
set +a
# The mode asked for now wins over the one recorded; a profile's mode is its deployment's.
export ACCREDITO_STRIPE_MODE="${mode:-${ACCREDITO_STRIPE_MODE:-live}}"
if [ "${DEMO_PROFILE_MODE:-}" != "$ACCREDITO_STRIPE_MODE" ]; then
  sed -i '/^ACCREDITO_STRIPE_MODE=/d; /^DEMO_PROFILE_ID=/d; /^DEMO_WEBHOOK_SECRET=/d; /^DEMO_PROFILE_MODE=/d' "$env_file"
  echo "ACCREDITO_STRIPE_MODE=$ACCREDITO_STRIPE_MODE" >>"$env_file"
  unset DEMO_PROFILE_ID DEMO_WEBHOOK_SECRET
fi
echo "Stripe mode: $ACCREDITO_STRIPE_MODE"
export ACCREDITO_LISTEN="${ACCREDITO_LISTEN:-127.0.0.1:8080}"
export ACCREDITO_ADMIN_LISTEN="${ACCREDITO_ADMIN_LISTEN:-127.0.0.1:8081}"

echo "building accredito (release)"
SQLX_OFFLINE=true cargo build --release --quiet --bin accredito
# Where cargo put it: CARGO_TARGET_DIR when the target directory is shared.
bin="${CARGO_TARGET_DIR:-target}/release/accredito"

"$bin" migrate >/dev/null # creates the database on first run
echo "database migrated"

if ! grep -q '^DEMO_PROFILE_ID=' "$env_file"; then
  secret="whsec_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  created=$(printf '%s' "$secret" | "$bin" profile create --merchant demo_merchant --name "Demo bar" --webhook-secret -)
  profile_id=$(printf '%s' "$created" | sed -n 's/.*"id": "\(prof_[A-Za-z0-9]*\)".*/\1/p' | head -n 1)
  { echo "DEMO_PROFILE_ID=$profile_id"; echo "DEMO_WEBHOOK_SECRET=$secret"
    echo "DEMO_PROFILE_MODE=$ACCREDITO_STRIPE_MODE"; } >>"$env_file"
  source "$env_file"
fi

# A one-minute tour first: merchants at each step of the setup, a day of signed events through
# the real endpoint, RabbitMQ and workers (with a local stand-in for the Stripe API), and the
# back-office tables and alerts they produce. It uses a database of its own (<name>_demo).
echo "running accredito demo"
RUST_LOG=warn "$bin" demo

cat <<MSG

accredito is starting: webhooks on http://$ACCREDITO_LISTEN, admin API on http://$ACCREDITO_ADMIN_LISTEN
  webhook URL   http://$ACCREDITO_LISTEN/webhooks/stripe/$DEMO_PROFILE_ID
  signing secret (demo profile): in $env_file as DEMO_WEBHOOK_SECRET
  admin API     curl -H "Authorization: Bearer \$ACCREDITO_ADMIN_TOKEN" http://$ACCREDITO_ADMIN_LISTEN/v1/profiles
With the Stripe CLI, forward a real account's test events here:
  stripe listen --forward-to http://$ACCREDITO_LISTEN/webhooks/stripe/$DEMO_PROFILE_ID
  then add the whsec_ secret it prints (the CLI reads its settings from the same file):
    set -a; source $env_file; set +a
    $bin profile add-secret $DEMO_PROFILE_ID --webhook-secret whsec_...
  then: stripe trigger payment_intent.succeeded
  (this deployment is in $ACCREDITO_STRIPE_MODE mode; the CLI's events are test-mode events,
   stored but flagged by a live deployment: start with ACCREDITO_STRIPE_MODE=test deploy/up.sh)
Stop with Ctrl-C.

MSG
exec "$bin" serve
