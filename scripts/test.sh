#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, checks formatting,
# builds and tests a Release build (with CUDA when nvcc is present; GPU tests skip without
# a device), then builds and tests again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# ctest runs suites side by side, each with OpenMP threads: idle OpenMP threads that spin
# would steal the cores the other suite needs. Tests check correctness, not speed.
export OMP_WAIT_POLICY=PASSIVE

bash scripts/install_deps.sh
bash scripts/check_format.sh

echo "== Release build =="
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== install, then build a program against the installed package =="
rm -rf build/prefix build/consumer
cmake --install build/release --prefix build/prefix >/dev/null
cmake -S tests/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/prefix" >/dev/null
cmake --build build/consumer -j"$jobs" >/dev/null
./build/consumer/consumer

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGLASSBOX_SANITIZE=ON \
  -DGLASSBOX_CUDA=OFF -DGLASSBOX_NATIVE=OFF -DGLASSBOX_EXAMPLES=OFF -DGLASSBOX_BENCH=OFF >/dev/null
cmake --build build/asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"
