#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, checks formatting,
# builds and tests a Release build (with CUDA when nvcc is present, compiled strictly; GPU
# tests skip without a device), runs the GPU suites on the CUDA emulator in three schedules,
# then builds and tests everything again under AddressSanitizer + UBSan, the emulated GPU
# included, and last fuzzes the file readers for a bounded time (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# ctest runs suites side by side, each with OpenMP threads: idle OpenMP threads that spin
# would steal the cores the other suite needs. Tests check correctness, not speed.
export OMP_WAIT_POLICY=PASSIVE

bash scripts/install_deps.sh
bash scripts/check_format.sh

echo "== Release build =="
# with the toolkit's cuDNN present, the benchmark's cuDNN yardstick is compiled too
cudnn=OFF
if [ -x /usr/local/cuda/bin/nvcc ] && [ -f /usr/local/cuda/include/cudnn.h ]; then cudnn=ON; fi
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DGLASSBOX_CUDNN=$cudnn >/dev/null
cmake --build build/release -j"$jobs"
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== install, then build programs against the installed package =="
bash scripts/test_install.sh "$jobs"

echo "== CUDA emulator build: the GPU suites on the emulated device =="
cmake -S . -B build/emu -DCMAKE_BUILD_TYPE=Release -DGLASSBOX_CUDA_EMU=ON \
  -DGLASSBOX_EXAMPLES=OFF -DGLASSBOX_BENCH=OFF >/dev/null
cmake --build build/emu -j"$jobs" --target glassbox_tests
ctest --test-dir build/emu --output-on-failure -j"$jobs" -R '^(device|cuda|emu)'

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (with the emulated GPU) =="
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGLASSBOX_SANITIZE=ON \
  -DGLASSBOX_CUDA_EMU=ON -DGLASSBOX_NATIVE=OFF -DGLASSBOX_EXAMPLES=OFF -DGLASSBOX_BENCH=OFF >/dev/null
cmake --build build/asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"

echo "== fuzz =="
# libFuzzer (clang) with ASan + UBSan on the readers of untrusted files, FUZZ_SECONDS each
# (default 60) from the committed seeds; any crash, leak, hang or memory blow-up fails
bash scripts/fuzz.sh
