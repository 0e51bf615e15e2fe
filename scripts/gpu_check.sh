#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, builds glassbox for that GPU, runs the
# whole suite on it (the device-generic tests then compare the real GPU against the CPU),
# runs compute-sanitizer (memcheck, racecheck, synccheck) over the GPU suites, and writes a
# short report: what ran, what passed, how long each step took. Sized for under 8 minutes
# on a 16-core machine. The report goes to $OUT/gpu_report.txt when OUT is set (the device
# tool), else build/gpu/gpu_report.txt; the exit status is non-zero if anything failed.
#
# It checks what the emulator cannot: real rounding, real cuBLAS, races between blocks,
# asynchronous errors, and that the kernels run at all on the hardware.
set -uo pipefail
cd "$(dirname "$0")/.."
out_dir=${OUT:-build/gpu}
mkdir -p "$out_dir" build/gpu
report="$out_dir/gpu_report.txt"
log="$out_dir/gpu_check.log"
: >"$report"
: >"$log"
status=0
say() { echo "$*" | tee -a "$report"; }
# step NAME COMMAND...: runs it, logs its output, records pass/fail and the time it took
step() {
  local name=$1
  shift
  local t0=$SECONDS
  if "$@" >>"$log" 2>&1; then
    say "PASS  $name ($((SECONDS - t0)) s)"
  else
    say "FAIL  $name ($((SECONDS - t0)) s): see $(basename "$log")"
    status=1
  fi
}

# the GPU machine has no package registry: header-only dependencies can travel in .deps/
[ -d .deps ] && bash scripts/device_setup.sh

say "== glassbox GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  say "no NVIDIA GPU visible (nvidia-smi): nothing to check"
  exit 1
fi
say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
say "GPUs: $(nvidia-smi -L | wc -l); nvcc: $(nvcc --version | tail -1)"
jobs=$(nproc)

step "configure (CUDA, native architecture)" \
  cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DGLASSBOX_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=native -DGLASSBOX_BENCH=OFF -DGLASSBOX_EXAMPLES=OFF
step "build" cmake --build build/gpu -j"$jobs" --target glassbox_tests
tests=build/gpu/tests/glassbox_tests
if [ ! -x "$tests" ]; then
  say "no test binary: stopping"
  exit 1
fi

# the GPU suites first and alone, so their output (and timings) are easy to find in the log
export OMP_WAIT_POLICY=PASSIVE
step "GPU suites (device, cuda) on the GPU" "$tests" --test-suite=device,cuda --no-intro
step "whole suite (ctest)" ctest --test-dir build/gpu -j4 --output-on-failure
grep -E "^\[(cuda|device)\]" "$log" | sort | uniq -c | head -20 >>"$report"

if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer --tool $tool (device suite)" \
      compute-sanitizer --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$tests" --test-suite=device --no-intro
  done
else
  say "SKIP  compute-sanitizer: not installed"
  status=1
fi

say "== $([ $status -eq 0 ] && echo "all passed" || echo "FAILURES: see the log") (${SECONDS} s)"
exit $status
