#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, builds glassbox for that GPU, runs the
# whole suite on it (the device-generic suites then compare the real GPU against the CPU),
# runs compute-sanitizer (memcheck, racecheck, synccheck) over the GPU suites, the notebook's
# benchmarks on the GPU and the CPU (bench_notebook --device cuda / cpu), and the notebook's
# CNN for 5 epochs with seeds 0-2 on the GPU, and writes a short report: what ran, what
# passed, how long each step took, and the figures. Sized for under 9 minutes on a 16-core
# machine (SKIP_BENCH=1 leaves out the benchmarks and the MNIST runs). The benchmarks and
# MNIST runs need the real files on that machine: copy the four .gz files to data/mnist/
# (git-ignored) and name data/mnist in the device tool's `carry`; without them only the conv
# benchmark runs. The report goes to $OUT/gpu_report.txt when OUT is set (the device
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
  -DCMAKE_CUDA_ARCHITECTURES=native -DGLASSBOX_BENCH=ON -DGLASSBOX_EXAMPLES=ON -DGLASSBOX_CUDNN=ON
step "build" cmake --build build/gpu -j"$jobs" --target glassbox_tests mnist bench_notebook
tests=build/gpu/tests/glassbox_tests
if [ ! -x "$tests" ]; then
  say "no test binary: stopping"
  exit 1
fi

# the GPU suites first and alone, so their output (and timings) are easy to find in the log
export OMP_WAIT_POLICY=PASSIVE
step "GPU suites (device*, cuda) on the GPU" "$tests" --test-suite='device*,cuda' --no-intro
step "whole suite (ctest)" ctest --test-dir build/gpu -j4 --output-on-failure
grep -E "^\[(cuda|device)\]" "$log" | sort | uniq -c | head -20 >>"$report"

if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer --tool $tool (device suite)" \
      compute-sanitizer --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "$tests" --test-suite='device,device_conv,device_nn' --no-intro
  done
else
  say "SKIP  compute-sanitizer: not installed"
  status=1
fi

# The figures: one JSON line per benchmark case, GPU then CPU in the same run; then the
# notebook's CNN on real MNIST (when the files travelled with the tree) for seeds 0-2.
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  bench=build/gpu/bench/bench_notebook
  mnist=build/gpu/examples/mnist/mnist
  data=""
  for d in ../shared/data/mnist shared/data/mnist data/mnist; do
    [ -f "$d/t10k-labels-idx1-ubyte.gz" ] && data=$d && break
  done
  if [ -x "$bench" ]; then
    cases=conv
    [ -n "$data" ] && cases=conv,step,epoch,infer,memory
    for dev in cuda cpu; do
      step "bench_notebook --device $dev ($cases)" \
        bash -c "$bench --device $dev --threads $jobs --cases $cases ${data:+--data $data} \
          | tee -a $out_dir/bench.jsonl"
    done
    say "-- bench_notebook (JSON, one line per case):"
    cat "$out_dir/bench.jsonl" >>"$report" 2>/dev/null
  fi
  if [ -x "$mnist" ] && [ -n "$data" ]; then
    for seed in 0 1 2; do
      step "mnist --device cuda --seed $seed (5 epochs)" \
        bash -c "$mnist --device cuda --seed $seed --data $data | tee $out_dir/mnist_seed$seed.txt"
      say "   seed $seed: $(grep -E 'test accuracy|seconds per epoch' "$out_dir/mnist_seed$seed.txt" \
        | tr '\n' ' ')"
    done
  else
    say "SKIP  mnist runs: no real MNIST files in the tree (../shared/data/mnist)"
  fi
fi

say "== $([ $status -eq 0 ] && echo "all passed" || echo "FAILURES: see the log") (${SECONDS} s)"
exit $status
