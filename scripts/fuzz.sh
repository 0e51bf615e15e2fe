#!/usr/bin/env bash
# Fuzzes the readers of untrusted files for a bounded time: builds the libFuzzer targets in
# build/fuzz (clang; the library instrumented for coverage, ASan and UBSan: fuzz/CMakeLists.txt),
# then runs every target for FUZZ_SECONDS (default 60) on a scratch copy of its seeds
# (fuzz/corpus/<target>/ plus fuzz/regressions/<target>/), FUZZ_PARALLEL (default 2) at a time.
# Limits: -rss_limit_mb=2048 (so also no single allocation over 2 GiB), -timeout=10 s per input,
# leaks reported. Prints one line per target -- executions, corpus size, findings -- and exits
# 1 on any finding, naming the saved input and how to reproduce it. The committed seeds are
# never modified: what the fuzzer learns stays in the scratch folder, removed unless it holds
# a finding.
#
#   bash scripts/fuzz.sh                      # all targets, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh idx # one target, longer
#   FUZZ_SEED=0 bash scripts/fuzz.sh          # a random seed (the default, 1, repeats CI)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
# a fixed seed by default, so a CI run can be repeated exactly; FUZZ_SEED=0 draws a random one
seed=${FUZZ_SEED:-1}
parallel=${FUZZ_PARALLEL:-2}
build=${FUZZ_BUILD:-build/fuzz}

echo "fuzz: building the targets in $build"
mkdir -p "$build"
# quiet when it works; the whole log when it does not (make prints the failing command there)
if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DGLASSBOX_FUZZ=ON -DGLASSBOX_CUDA=OFF -DGLASSBOX_TESTS=OFF -DGLASSBOX_EXAMPLES=OFF \
  -DGLASSBOX_BENCH=OFF -DGLASSBOX_NATIVE=OFF &&
  cmake --build "$build" -j"$(nproc)" --target fuzz_targets; } >"$build/fuzz_build.log" 2>&1; then
  tail -60 "$build/fuzz_build.log"
  echo "fuzz: the build failed (whole log: $build/fuzz_build.log)" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in "$build"/fuzz/fuzz_*; do
    [ -x "$f" ] && targets+=("${f##*/fuzz_}")
  done
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/glassbox_fuzz.XXXXXX")

dict_of() {
  case "$1" in
    safetensors | checkpoint) echo fuzz/safetensors.dict ;;
    *) [ -f "fuzz/$1.dict" ] && echo "fuzz/$1.dict" ;;
  esac
  return 0
}

# One target: its log, its grown corpus and what it found all under $work/<target>/.
run_target() {
  local t=$1 dir=$work/$1
  cp -R "fuzz/corpus/$t/." "$dir/corpus/"
  if [ -d "fuzz/regressions/$t" ]; then cp -R "fuzz/regressions/$t/." "$dir/corpus/"; fi
  local dict
  dict=$(dict_of "$t")
  # one OpenMP thread: the readers are sequential, and two fuzzers already share the cores
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 -timeout=10 \
    ${dict:+-dict="$dict"} -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    "$dir/corpus" >"$dir/log" 2>&1 || echo $? >"$dir/rc"
}

echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $parallel at a time, seed $seed"
running=0
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/fuzz_$t" ] || { echo "fuzz: no target '$t' in $build/fuzz" >&2; exit 2; }
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  : >"$work/$t/log"
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

findings=0
for t in "${targets[@]}"; do
  dir=$work/$t
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  found=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' \
    -o -name 'timeout-*' \) | wc -l)
  printf 'fuzz %-12s %10s executions  corpus %5d  findings %d\n' "$t" "${execs:-?}" "$corpus" "$found"
  rc=$(cat "$dir/rc" 2>/dev/null || echo 0)
  if [ "$found" -gt 0 ] || [ -z "$execs" ] || [ "$rc" != 0 ]; then
    findings=$((findings + 1))
    echo "---- $t: the end of the fuzzer's log ($dir/log):"
    grep -E 'ERROR|SUMMARY|runtime error|fuzz finding|uncaught|Test unit written|#[0-9]+ +in ' \
      "$dir/log" | head -40 || tail -30 "$dir/log"
    for f in "$dir"/artifacts/*; do
      [ -f "$f" ] || continue
      echo "  found: $f ($(stat -c %s "$f") bytes)"
      echo "  reproduce: $build/fuzz/fuzz_$t $f"
      echo "  minimise:  $build/fuzz/fuzz_$t -minimize_crash=1 -runs=100000 $f"
      echo "  then commit the minimised input as fuzz/regressions/$t/<what-it-is> (fuzz_replay_$t)"
    done
    [ "$found" -gt 0 ] || echo "  the fuzzer exited with status $rc or did not finish: see $dir/log"
  fi
done

if [ "$findings" -gt 0 ]; then
  echo "fuzz: findings in $findings target(s); the inputs are kept in $work"
  exit 1
fi
rm -rf "$work"
echo "fuzz: no findings"
