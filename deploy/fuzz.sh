#!/usr/bin/env bash
# Fuzzes the webhook's untrusted-input parsers with cargo-fuzz (libFuzzer):
#   signature_header  stripe::signature::verify on arbitrary Stripe-Signature headers and bodies
#   event_envelope    stripe::event::parse_envelope on arbitrary bodies
#
# Usage: deploy/fuzz.sh [SECONDS]   (default 30 seconds per target, one target at a time)
#
# Installs cargo-fuzz when missing, builds both targets (release, debug assertions on,
# AddressSanitizer) into fuzz/target/, runs each for SECONDS, and exits non-zero when a target
# crashes; the input that crashed is in fuzz/artifacts/<target>/ (replay it with
# `RUSTC_BOOTSTRAP=1 SQLX_OFFLINE=true cargo fuzz run -a <target> <file>`). New inputs are kept in
# fuzz/corpus/<target>/ and reused by the next run; fuzz/seeds/<target>/ holds hand-written
# starting inputs. All three of target, corpus and artifacts are git-ignored.
#
# cargo-fuzz needs a nightly compiler for its -Z flags; RUSTC_BOOTSTRAP=1 lets the stable one
# accept them (the default toolchain is used: RUSTUP_TOOLCHAIN=nightly picks a nightly).
# FUZZ_SANITIZER=none builds without AddressSanitizer (faster; the code under test is safe Rust).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
case "$seconds" in
  '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS]  (a whole number of seconds per target, > 0)" >&2; exit 2 ;;
esac
sanitizer="${FUZZ_SANITIZER:-address}"
targets=(signature_header event_envelope)

export RUSTC_BOOTSTRAP=1
# The library's sqlx query macros read the committed cache in .sqlx/ (see .cargo/config.toml).
export SQLX_OFFLINE=true

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

build_flags=(--release --debug-assertions --sanitizer "$sanitizer")
echo "== cargo fuzz build ${build_flags[*]}"
cargo fuzz build "${build_flags[@]}"

failed=()
for target in "${targets[@]}"; do
  corpus="$PWD/fuzz/corpus/$target"
  mkdir -p "$corpus"
  inputs=("$corpus")
  [ -d "fuzz/seeds/$target" ] && inputs+=("$PWD/fuzz/seeds/$target")
  log="$PWD/fuzz/target/$target.log"
  echo "== $target: ${seconds}s (log: fuzz/target/$target.log)"
  # One process (no -jobs/-workers); -timeout flags any single input that takes over 10 s.
  if cargo fuzz run "${build_flags[@]}" "$target" "${inputs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -dict="$PWD/fuzz/dict/$target.dict" >"$log" 2>&1; then
    status=0
  else
    status=$?
  fi
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs|panicked at|^SUMMARY|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "!! $target failed (exit $status): see fuzz/target/$target.log and fuzz/artifacts/$target/" >&2
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "== no crash in ${targets[*]} (${seconds}s each)"
