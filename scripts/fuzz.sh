#!/usr/bin/env bash
# Bounded fuzz run (README, "Fuzzing"): every cargo-fuzz target in fuzz/ (or the ones named)
# for SECONDS each (default 60), growing fuzz/corpus/<target>/, then `cargo fuzz cmin` to keep
# the corpus minimal. A crash input is copied to fuzz/regressions/<target>/, where the stable
# test `fuzz_corpus` replays it until the bug is fixed (and for ever after).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs nightly (`rustup toolchain install nightly`) and cargo-fuzz (`cargo install cargo-fuzz`).
# Builds in release with debug assertions and overflow checks, without a sanitizer by default
# (our crates forbid unsafe code); FUZZ_SANITIZER=address turns AddressSanitizer on.
# CARGO_TARGET_DIR is honoured (the fuzz/ workspace's default is fuzz/target).
# Prints one line per target: seconds, executions, crashes, corpus files after cmin.
set -euo pipefail

secs=${1:-60}
shift || true
cd "$(dirname "$0")/../fuzz"
sanitizer=${FUZZ_SANITIZER:-none}

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -s "$sanitizer"

summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  before=$(ls "artifacts/$t" | wc -l)
  # -fork would keep going past a crash; one process stops at the first, which is what we want
  # to see. Timeouts and OOMs count as crashes too.
  if cargo +nightly fuzz run -s "$sanitizer" "$t" "corpus/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    :
  else
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "regressions/$t"
    for f in $(ls -t "artifacts/$t" | head -n "$crashes"); do
      cp "artifacts/$t/$f" "regressions/$t/$f"
    done
    grep -m1 -B2 -A20 'panicked at\|ERROR: libFuzzer' "$log" | head -40 || true
  fi
  cargo +nightly fuzz cmin -s "$sanitizer" "$t" "corpus/$t" >/dev/null 2>&1 || true
  files=$(ls "corpus/$t" | wc -l)
  summary+=("$t: ${secs}s, ${execs:-0} executions, $crashes crashes, $files corpus files")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"
exit "$status"
