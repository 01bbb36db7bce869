#!/usr/bin/env bash
# First command of the README: everything a new machine needs, then `accredito serve`.
#   - the ports it needs checked before anything starts: the webhook and admin listeners, and
#     5432 / 5672 when it would start PostgreSQL / RabbitMQ itself
#   - a C compiler installed when missing (Rust links through `cc`; the ring crate compiles C)
#   - PostgreSQL and RabbitMQ made reachable (running ones used; else started; else installed)
#   - a master key and admin token generated once into .local/accredito.env (git-ignored)
#   - when the local PostgreSQL asks for a password the postgres role does not have, a role and
#     a database `accredito` with a generated password, kept in the same file for the next runs
#   - the release build (cargo shows its progress), the database created and migrated, a demo
#     Stripe profile
#   - `accredito demo` (the whole product in seconds, on a database of its own)
#   - the webhook URL and signing secret printed, then the service runs in the foreground
# Optional settings, from the environment:
#   DATABASE_URL, AMQP_URL   servers of yours, used as given (nothing is started for them) and
#                            kept in .local/accredito.env for the next runs
#   PGPORT                   a local PostgreSQL on another port than 5432 (used, never started)
#   ACCREDITO_LISTEN, ACCREDITO_ADMIN_LISTEN   127.0.0.1:8080 and 127.0.0.1:8081 by default
# `ACCREDITO_STRIPE_MODE=test deploy/up.sh` runs a test-mode deployment (test keys, test events:
# what `stripe listen` forwards), with a demo profile of that mode.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/.. disable=SC1091 # services.sh: followed with shellcheck -x
source deploy/services.sh

die() { printf '%s\n' "$@" >&2; exit 1; }

mkdir -p .local
env_file=.local/accredito.env
# What the environment says now wins over what the file recorded.
given_db="${DATABASE_URL:-}"
given_amqp="${AMQP_URL:-}"
given_listen="${ACCREDITO_LISTEN:-}"
given_admin="${ACCREDITO_ADMIN_LISTEN:-}"
mode="${ACCREDITO_STRIPE_MODE:-}"
if [ ! -f "$env_file" ]; then
  (
    umask 077
    {
      echo "ACCREDITO_MASTER_KEY=$(head -c 32 /dev/urandom | base64)"
      echo "ACCREDITO_ADMIN_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } >"$env_file"
  )
  echo "generated a master key and an admin token in $env_file (keep it; it is git-ignored)"
fi
set -a
# shellcheck disable=SC1090
source "$env_file"
set +a

# Records KEY=VALUE in the env file, replacing an earlier value, and exports it.
set_env() {
  sed -i "/^$1=/d" "$env_file"
  printf '%s=%q\n' "$1" "$2" >>"$env_file"
  export "$1=$2"
}
# The demo profile lives in one database and one Stripe mode: a new one is made when either changes.
forget_demo_profile() {
  sed -i '/^DEMO_PROFILE_ID=/d; /^DEMO_WEBHOOK_SECRET=/d; /^DEMO_PROFILE_MODE=/d' "$env_file"
  unset DEMO_PROFILE_ID DEMO_WEBHOOK_SECRET DEMO_PROFILE_MODE
}
without_password() {
  local re='^([a-z]+://[^:@/]*):[^@/]*@(.*)$'
  if [[ $1 =~ $re ]]; then echo "${BASH_REMATCH[1]}@${BASH_REMATCH[2]}"; else echo "$1"; fi
}

# The mode asked for now wins over the one recorded; a profile's mode is its deployment's.
export ACCREDITO_STRIPE_MODE="${mode:-${ACCREDITO_STRIPE_MODE:-live}}"
if [ "${DEMO_PROFILE_MODE:-}" != "$ACCREDITO_STRIPE_MODE" ]; then
  forget_demo_profile
  set_env ACCREDITO_STRIPE_MODE "$ACCREDITO_STRIPE_MODE"
fi
echo "Stripe mode: $ACCREDITO_STRIPE_MODE"
export ACCREDITO_LISTEN="${given_listen:-${ACCREDITO_LISTEN:-127.0.0.1:8080}}"
export ACCREDITO_ADMIN_LISTEN="${given_admin:-${ACCREDITO_ADMIN_LISTEN:-127.0.0.1:8081}}"

pg_port="${PGPORT:-5432}"
# A DATABASE_URL given now is used as is (and recorded); otherwise the recorded one, or the
# local server's postgres role (a dedicated role when that needs a password).
db_given=false
if [ -n "$given_db" ]; then
  db_given=true
  if [ "$given_db" != "${DATABASE_URL:-}" ]; then
    [ -z "${DATABASE_URL:-}" ] || forget_demo_profile
    set_env DATABASE_URL "$given_db"
  fi
elif [ -z "${DATABASE_URL:-}" ]; then
  set_env DATABASE_URL "postgres://postgres:postgres@127.0.0.1:$pg_port/accredito"
fi
if [ -n "$given_amqp" ] && [ "$given_amqp" != "${AMQP_URL:-}" ]; then
  set_env AMQP_URL "$given_amqp"
elif [ -z "${AMQP_URL:-}" ]; then
  set_env AMQP_URL "amqp://guest:guest@127.0.0.1:5672/%2f"
fi

# "host port" of a URL's (first) server.
url_host_port() {
  local rest="${1%%,*}" host port
  rest="${rest#*://}"
  rest="${rest%%[/?]*}"
  rest="${rest##*@}"
  if [[ $rest == \[* ]]; then host="${rest%%]*}]"; else host="${rest%%:*}"; fi
  port="${rest#"$host"}"
  port="${port#:}"
  echo "${host:-127.0.0.1} ${port:-$2}"
}
is_local() { case "$1" in 127.0.0.1 | localhost | ::1 | '[::1]') return 0 ;; *) return 1 ;; esac; }
is_wildcard() { case "$1" in 0.0.0.0 | '*' | :: | '[::]' | '[::ffff:0.0.0.0]') return 0 ;; *) return 1 ;; esac; }
# Whether a listener on ADDR keeps HOST (same port) from being bound; HOST '*' means any address.
# IPv6 wildcards take IPv4 too (dual stack, Linux's default); 0.0.0.0 takes every IPv4 address.
collides() {
  local addr="$1" host="$2"
  [ "$addr" != "$host" ] || return 0
  case "$addr" in '*' | '[::]' | '[::ffff:0.0.0.0]') return 0 ;; esac
  case "$host" in '*' | '[::]' | ::) return 0 ;; esac
  if [ "$addr" = 0.0.0.0 ] && [[ $host != *:* ]]; then return 0; fi
  if [ "$host" = 0.0.0.0 ] && [[ $addr != *:* ]]; then return 0; fi
  return 1
}

read -r db_host db_port <<<"$(url_host_port "$DATABASE_URL" 5432)"
read -r mq_host mq_port <<<"$(url_host_port "$AMQP_URL" 5672)"
# This script starts (or installs) only the servers of the default local addresses.
manage_pg=false
if is_local "$db_host" && [ "$db_port" = 5432 ]; then manage_pg=true; fi
manage_mq=false
if [[ $AMQP_URL != *,* && $AMQP_URL == amqp://* ]] && is_local "$mq_host" && [ "$mq_port" = 5672 ]; then
  manage_mq=true
fi

# --- Ports, before anything starts ---------------------------------------------------------
# Prints the listeners in the way of HOST:PORT (ss when installed, else a connection attempt).
in_the_way() {
  local host="$1" port="$2" found=1 line addr to
  if command -v ss >/dev/null; then
    while read -r line; do
      read -r _ _ _ addr _ <<<"$line"
      addr="${addr%:*}"
      addr="${addr%%\%*}"
      if collides "$addr" "$host"; then
        echo "    $line"
        found=0
      fi
    done < <(ss -Hltnp "sport = :$port" 2>/dev/null)
  fi
  if [ "$found" -ne 0 ]; then
    to="$host"
    if is_wildcard "$to"; then to=127.0.0.1; fi
    to="${to#[}"
    to="${to%]}"
    # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
    if timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$to" "$port" 2>/dev/null; then
      echo "    (something answers on $to:$port)"
      found=0
    fi
  fi
  return "$found"
}
busy=()
# Checks PORT on HOST for WHAT; HINT says how to do without it.
check_port() {
  local host="$1" port="$2" what="$3" hint="$4" held
  if held=$(in_the_way "$host" "$port"); then
    busy+=("port $port is taken, and $what needs it:" "$held")
    if [[ $held == *'"accredito"'* ]]; then
      busy+=("  (an accredito already runs there: an earlier deploy/up.sh? Ctrl-C in its terminal stops it)")
    fi
    busy+=("  $hint" "")
  fi
}
listen_port="${ACCREDITO_LISTEN##*:}"
admin_port="${ACCREDITO_ADMIN_LISTEN##*:}"
[[ $ACCREDITO_LISTEN == *:* && $listen_port =~ ^[0-9]+$ ]] || die "ACCREDITO_LISTEN=$ACCREDITO_LISTEN: give an address and a port, e.g. 127.0.0.1:8080"
[[ $ACCREDITO_ADMIN_LISTEN == *:* && $admin_port =~ ^[0-9]+$ ]] || die "ACCREDITO_ADMIN_LISTEN=$ACCREDITO_ADMIN_LISTEN: give an address and a port, e.g. 127.0.0.1:8081"
if [ "$listen_port" = "$admin_port" ]; then
  die "ACCREDITO_LISTEN ($ACCREDITO_LISTEN) and ACCREDITO_ADMIN_LISTEN ($ACCREDITO_ADMIN_LISTEN) name the same port: give each its own"
fi
check_port "${ACCREDITO_LISTEN%:*}" "$listen_port" \
  "accredito's webhook listener (ACCREDITO_LISTEN=$ACCREDITO_LISTEN)" \
  "free it, or choose another address: ACCREDITO_LISTEN=127.0.0.1:<port> deploy/up.sh"
check_port "${ACCREDITO_ADMIN_LISTEN%:*}" "$admin_port" \
  "accredito's admin listener (ACCREDITO_ADMIN_LISTEN=$ACCREDITO_ADMIN_LISTEN)" \
  "free it, or choose another address: ACCREDITO_ADMIN_LISTEN=127.0.0.1:<port> deploy/up.sh"
# A PostgreSQL or RabbitMQ that answers on 127.0.0.1 is used; otherwise this script would start
# one, and nothing else may hold the port on any address.
if $manage_pg && ! port_open 5432; then
  check_port '*' 5432 "the PostgreSQL this script would start (none answers on 127.0.0.1:5432)" \
    "free it, or use a PostgreSQL of yours: DATABASE_URL=postgres://user:password@host:port/accredito deploy/up.sh (PGPORT=<port> for a local one)"
fi
if $manage_mq && ! port_open 5672; then
  check_port '*' 5672 "the RabbitMQ this script would start (none answers on 127.0.0.1:5672)" \
    "free it, or use a RabbitMQ of yours: AMQP_URL=amqp://user:password@host:port/%2f deploy/up.sh"
fi
if [ "${#busy[@]}" -gt 0 ]; then
  printf '%s\n' "${busy[@]}" >&2
  die "Nothing was started. 'ss -ltnp' (as root, to see every process) lists who holds which port."
fi

# --- Tools ---------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), open a new shell, and run deploy/up.sh again"
if ! command -v cc >/dev/null; then
  echo "no C compiler (cc): Rust links through it and the ring crate (TLS) compiles C code"
  command -v apt-get >/dev/null || die "install gcc (or clang, as cc) and run deploy/up.sh again"
  apt_install build-essential
  command -v cc >/dev/null || die "still no cc after installing build-essential: install gcc and run deploy/up.sh again"
fi

# --- PostgreSQL and RabbitMQ ----------------------------------------------------------------
if $manage_pg; then
  ensure_postgres
elif is_local "$db_host" && ! port_open "$db_port"; then
  die "no PostgreSQL answers on 127.0.0.1:$db_port, the port of DATABASE_URL (or PGPORT); this script starts one only on 5432"
elif $db_given; then
  echo "PostgreSQL: $db_host:$db_port, DATABASE_URL's server (used as it is)"
else
  echo "PostgreSQL: $db_host:$db_port, DATABASE_URL's server in $env_file (not started here)"
fi
if $manage_mq; then
  ensure_rabbitmq
else
  echo "RabbitMQ: ${mq_host}:${mq_port}$([[ $AMQP_URL == *,* ]] && echo ' and more nodes'), AMQP_URL's server (used as it is)"
fi

# Tries URL over TCP as the service will, against the server's postgres database (the password
# goes through the environment, not the command line); prints psql's complaint on failure.
pg_try() {
  local re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^/?]*)' user pw host port args=()
  [[ $1 =~ $re ]] || return 0
  user="${BASH_REMATCH[3]:-}"
  pw="${BASH_REMATCH[5]:-}"
  read -r host port <<<"$(url_host_port "$1" 5432)"
  host="${host#[}"
  host="${host%]}"
  [ -z "$user" ] || args+=(-U "$(printf '%b' "${user//%/\\x}")")
  # shellcheck disable=SC2069 # psql's complaint (stderr) is the output; its result is not
  PGPASSWORD="$(printf '%b' "${pw//%/\\x}")" PGCONNECT_TIMEOUT=10 \
    psql -X -w -q -At -h "$host" -p "$port" "${args[@]}" -d postgres -c 'select 1' 2>&1 >/dev/null
}
# A role and a database `accredito` with a new password, made as the postgres OS user over the
# Unix socket (peer authentication); CREATEDB for the demo's database of its own.
pg_dedicated_role() {
  local port="$1" pw out
  pw="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  # Errors are shown with the password masked; the server's statement log is off for it.
  out=$(as_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres 2>&1 >/dev/null <<SQL
\set pw '$pw'
set log_statement = 'none';
select 'create role accredito' where not exists (select from pg_roles where rolname = 'accredito') \gexec
alter role accredito with login createdb password :'pw';
select 'create database accredito owner accredito' where not exists (select from pg_database where datname = 'accredito') \gexec
SQL
  ) || { printf '%s\n' "${out//$pw/<password>}" >&2; return 1; }
  echo "postgres://accredito:$pw@127.0.0.1:$port/accredito"
}
# Only a URL this script wrote is replaced: the postgres role's default, or an accredito role's.
ours_url() {
  local re='^postgres://(postgres:postgres|accredito:[A-Za-z0-9]+)@127\.0\.0\.1:[0-9]+/accredito$'
  [[ $1 =~ $re ]]
}
auth_refusal() { [[ $1 == *password* || $1 == *"authentication failed"* ]]; }
if ! $db_given && ours_url "$DATABASE_URL" && command -v psql >/dev/null; then
  # A server just started may still say "starting up" for a moment.
  reached=false
  for _ in $(seq 20); do
    if refused=$(pg_try "$DATABASE_URL"); then reached=true; break; fi
    if auth_refusal "$refused"; then break; fi
    sleep 0.5
  done
  if ! $reached; then
    if ! auth_refusal "$refused"; then
      die "PostgreSQL on 127.0.0.1:$db_port refused $(without_password "$DATABASE_URL"):" "  $refused"
    fi
    echo "PostgreSQL on 127.0.0.1:$db_port asks for a password that $(without_password "$DATABASE_URL") does not have:"
    echo "  making a role and a database 'accredito' with a generated password, as the postgres OS user"
    id postgres >/dev/null 2>&1 || die "  no postgres OS user here to do that as: set DATABASE_URL to a role that may create databases" \
      "  (DATABASE_URL=postgres://user:password@127.0.0.1:$db_port/accredito deploy/up.sh)"
    new_url=$(pg_dedicated_role "$db_port") ||
      die "  could not (above); set DATABASE_URL to a role that may create databases, or run as root or with sudo"
    if [ "$(without_password "$new_url")" != "$(without_password "$DATABASE_URL")" ]; then forget_demo_profile; fi
    set_env DATABASE_URL "$new_url"
    if ! refused=$(pg_try "$DATABASE_URL"); then
      die "  PostgreSQL refuses the new role over TCP too:" "  $refused" \
        "  (its pg_hba.conf must allow password logins from 127.0.0.1; see 'sudo -u postgres psql -c \"table pg_hba_file_rules\"')"
    fi
    echo "  DATABASE_URL=$(without_password "$DATABASE_URL") (password in $env_file; later runs reuse it)"
  fi
fi

# --- Build, migrate, demo, serve -------------------------------------------------------------
# Where cargo puts it: CARGO_TARGET_DIR when the target directory is shared.
bin="${CARGO_TARGET_DIR:-target}/release/accredito"
if [ -x "$bin" ]; then
  echo "building accredito (release): what changed since the last build"
else
  echo "building accredito (release): a first build compiles about 270 crates, which took 17 minutes on a busy 2-core machine ($(nproc) cores here)"
fi
SQLX_OFFLINE=true cargo build --release --bin accredito

"$bin" migrate >/dev/null # creates the database on first run
echo "database migrated"

if ! grep -q '^DEMO_PROFILE_ID=' "$env_file"; then
  secret="whsec_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  created=$(printf '%s' "$secret" | "$bin" profile create --merchant demo_merchant --name "Demo bar" --webhook-secret -)
  profile_id=$(printf '%s' "$created" | sed -n 's/.*"id": "\(prof_[A-Za-z0-9]*\)".*/\1/p' | head -n 1)
  { echo "DEMO_PROFILE_ID=$profile_id"; echo "DEMO_WEBHOOK_SECRET=$secret"
    echo "DEMO_PROFILE_MODE=$ACCREDITO_STRIPE_MODE"; } >>"$env_file"
  # shellcheck disable=SC1090
  source "$env_file"
fi

# A tour first: merchants at each step of the setup, a day of signed events through the real
# endpoint, RabbitMQ and workers (with a local stand-in for the Stripe API), and the back-office
# tables and alerts they produce. It uses a database of its own (<name>_demo).
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
