#!/usr/bin/env bash
# Bounded fuzz run (README, "Fuzzing"): every cargo-fuzz target in fuzz/ (or the ones named)
# for SECONDS each (default 60), then minimizes what it found:
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# * The run starts from the checked-in corpus fuzz/corpus/<target>/ and writes new inputs to
#   fuzz/grown/<target>/ (not checked in; kept between runs so fuzzing resumes where it
#   stopped), which `cargo fuzz cmin` then minimizes (every coverage feature kept).
# * The checked-in corpus is rewritten as at most FUZZ_CORPUS_MAX (default 40) inputs of
#   grown and checked-in ones, chosen greedily for the most code edges each adds (libFuzzer's
#   set-cover merge over edges gives the edges per input): cmin alone keeps hundreds of inputs
#   after a minute, and the stable test `fuzz_corpus` replays the checked-in ones on every run.
# * A crash or timeout input is copied to fuzz/regressions/<target>/, which `fuzz_corpus`
#   replays until the bug is fixed (and for ever after); minimize it first with
#   `cargo +nightly fuzz tmin <target> <file>`.
#
# Needs rustup's nightly toolchain and cargo-fuzz; the script checks both first and says how to
# install what is missing (`rustup toolchain install nightly`, `cargo install cargo-fuzz`).
# Builds in release with debug assertions and overflow checks (cargo-fuzz's default), without a
# sanitizer by default (our crates forbid unsafe code); FUZZ_SANITIZER=address turns
# AddressSanitizer on. CARGO_TARGET_DIR is honoured (the fuzz/ workspace's default is
# fuzz/target). Prints one line per target: seconds run (of SECONDS; fewer when it stopped at a
# crash), executions, edge coverage and features as libFuzzer reports them at the end of the
# run, crashes, grown inputs after cmin, checked-in inputs and the edges they cover. Exits 1
# when a target crashed or timed out, 2 when a prerequisite is missing.
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
max=${FUZZ_CORPUS_MAX:-40}
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "grown/$t" "artifacts/$t"
  log="$logs/$t.log"
  before=$(ls "artifacts/$t" | wc -l)
  started=$SECONDS
  # -fork would keep going past a crash; one process stops at the first, which is what we want
  # to see. Timeouts and OOMs count as crashes too. New inputs go to the first directory.
  if cargo +nightly fuzz run -s "$sanitizer" "$t" "grown/$t" "corpus/$t" -- \
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
  if ! cargo +nightly fuzz cmin -s "$sanitizer" "$t" "grown/$t" >"$logs/$t.cmin.log" 2>&1; then
    echo "fuzz.sh: cargo fuzz cmin $t failed, grown/$t left as the run grew it (see $logs/$t.cmin.log)" >&2
    status=1
  fi
  grown=$(ls "grown/$t" | wc -l)
  # The edges of every grown and checked-in input (set-cover merge: each FT line lists all of
  # an input's features; without counters and comparisons a feature is an edge).
  pick="$logs/$t.pick"
  rm -rf "$pick" && mkdir -p "$pick/out"
  if cargo +nightly fuzz run -s "$sanitizer" "$t" "$pick/out" "grown/$t" "corpus/$t" -- \
      -merge=1 -set_cover_merge=1 -use_counters=0 -use_cmp=0 -timeout=10 \
      -merge_control_file="$pick/control" >"$logs/$t.pick.log" 2>&1; then
    # Greedy maximum coverage: repeatedly take the input adding the most edges not yet taken
    # (the smaller one on a tie), at most $max of them. Lazy: an input's gain only shrinks, so
    # its last computed gain bounds it and only the input with the best bound is recounted.
    awk -v max="$max" -v chosen="$pick/chosen" -v size="$pick/sizes" '
      NR == 1 { n = $1; next }
      NR == 2 { next }
      NR <= n + 2 { path[NR - 3] = $0; next }
      $1 == "STARTED" { bytes[$2] = $3 }
      $1 == "FT" { i = $2; nf[i] = NF - 2; ub[i] = nf[i]; for (k = 3; k <= NF; k++) { ft[i, k - 2] = $k; all[$k] = 1 } }
      END {
        total = 0; for (f in all) total++
        kept = 0; round = 0
        while (round < max) {
          best = -1; bound = 0
          for (i in ub) if (ub[i] > bound || (ub[i] == bound && bound > 0 && bytes[i] < bytes[best])) { best = i; bound = ub[i] }
          if (best < 0) break
          if (fresh[best] == round + 1) {
            print path[best] > chosen
            for (k = 1; k <= nf[best]; k++) covered[ft[best, k]] = 1
            kept += bound; delete ub[best]; round++
            continue
          }
          g = 0
          for (k = 1; k <= nf[best]; k++) if (!(ft[best, k] in covered)) g++
          ub[best] = g; fresh[best] = round + 1
        }
        print kept " " total > size
      }' "$pick/control"
    mkdir -p "$pick/new"
    touch "$pick/chosen"
    while IFS= read -r f; do
      cp "$f" "$pick/new/$(sha1sum <"$f" | cut -d' ' -f1)"
    done <"$pick/chosen"
    read -r kept total <"$pick/sizes"
    if [ -n "$(ls "$pick/new")" ]; then
      rm -rf "corpus/$t" && mv "$pick/new" "corpus/$t"
      edges="$kept of $total edges"
    else
      echo "fuzz.sh: no input of $t covers anything; corpus/$t left as it was" >&2
      edges="none selected"
      status=1
    fi
  else
    echo "fuzz.sh: selecting corpus/$t failed, left as it was (see $logs/$t.pick.log)" >&2
    edges="selection failed"
    status=1
  fi
  files=$(ls "corpus/$t" | wc -l)
  summary+=("$t: ${ran}s of ${secs}s, ${execs:-0} executions, cov ${cov:-?}, ft ${ft:-?}, $crashes crashes; grown $grown inputs after cmin; corpus $files inputs, $edges")
done
printf '%s\n' "${summary[@]}"
echo "libFuzzer logs: $logs"
exit "$status"
