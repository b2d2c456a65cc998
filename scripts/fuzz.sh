#!/usr/bin/env bash
# Bounded fuzz run (README, "Fuzzing"): every cargo-fuzz target in fuzz/ (or the ones named)
# for SECONDS each (default 60), growing fuzz/corpus/<target>/, then `cargo fuzz cmin` to keep
# the corpus minimal. A crash input is copied to fuzz/regressions/<target>/, where the stable
# test `fuzz_corpus` replays it until the bug is fixed (and for ever after).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs rustup's nightly toolchain and cargo-fuzz; the script checks both first and says how to
# install what is missing (`rustup toolchain install nightly`, `cargo install cargo-fuzz`).
# Builds in release with debug assertions and overflow checks (cargo-fuzz's default), without a
# sanitizer by default (our crates forbid unsafe code); FUZZ_SANITIZER=address turns
# AddressSanitizer on. CARGO_TARGET_DIR is honoured (the fuzz/ workspace's default is fuzz/target).
# Prints one line per target: seconds run (of SECONDS; fewer when it stopped at a crash), executions, coverage and features as libFuzzer reports
# them at the end of the run, crashes, corpus files after cmin. Exits 1 when a target crashed or
# timed out, 2 when a prerequisite is missing.
set -euo pipefail

secs=${1:-60}
shift || true
case "$secs" in
  '' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]  (SECONDS a whole number, got '$secs')" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/../fuzz"
sanitizer=${FUZZ_SANITIZER:-none}

if ! command -v rustup >/dev/null 2>&1; then
  echo "fuzz.sh: rustup is missing (cargo-fuzz runs on rustup's nightly toolchain). Install it" >&2
  echo "from https://rustup.rs, then: rustup toolchain install nightly --profile minimal" >&2
  exit 2
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is missing (cargo-fuzz needs it for -Zsanitizer and" >&2
  echo "libFuzzer's coverage flags). Install it with:" >&2
  echo "    rustup toolchain install nightly --profile minimal" >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing. Install it (any toolchain builds it) with:" >&2
  echo "    cargo install cargo-fuzz --locked" >&2
  exit 2
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -s "$sanitizer"

# libFuzzer's full output of each run and cmin stays here for reading afterwards.
logs=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-logs.XXXXXX")
summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="$logs/$t.log"
  before=$(ls "artifacts/$t" | wc -l)
  started=$SECONDS
  # -fork would keep going past a crash; one process stops at the first, which is what we want
  # to see. Timeouts and OOMs count as crashes too.
  if cargo +nightly fuzz run -s "$sanitizer" "$t" "corpus/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    :
  else
    status=1
  fi
  ran=$((SECONDS - started))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  # libFuzzer's last status line ("#N DONE cov: C ft: F corp: ..."; "#N NEW ..." when it stopped
  # at a crash) carries the edge coverage and the features it reached.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*$' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*$' || true)
  crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "regressions/$t"
    for f in $(ls -t "artifacts/$t" | head -n "$crashes"); do
      cp "artifacts/$t/$f" "regressions/$t/$f"
    done
    grep -m1 -B2 -A20 'panicked at\|ERROR: libFuzzer' "$log" | head -40 || true
  fi
  if ! cargo +nightly fuzz cmin -s "$sanitizer" "$t" "corpus/$t" >"$logs/$t.cmin.log" 2>&1; then
    echo "fuzz.sh: cargo fuzz cmin $t failed, corpus left as the run grew it (see $logs/$t.cmin.log)" >&2
    status=1
  fi
  files=$(ls "corpus/$t" | wc -l)
  summary+=("$t: ${ran}s of ${secs}s, ${execs:-0} executions, cov ${cov:-?}, ft ${ft:-?}, $crashes crashes, $files corpus files")
done
printf '%s\n' "${summary[@]}"
echo "libFuzzer logs: $logs"
exit "$status"
