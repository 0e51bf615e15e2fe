#!/usr/bin/env bash
# The install stage of scripts/test.sh: installs glassbox and builds tests/consumer against it
# by find_package and by pkg-config, then runs each program. Two packages:
#   static  the Release build in build/release (CUDA where nvcc is), installed to build/prefix;
#   shared  a CPU-only libglassbox.so built here (the library alone), installed to
#           build/prefix_shared. Its consumer is configured with CUDA, zlib, libpng, libjpeg,
#           Eigen and nlohmann_json made unfindable: the package must not ask for them.
# Usage: scripts/test_install.sh [jobs [static_build [work]]]
#   static_build: a configured and built static glassbox (default build/release);
#   work: where the prefixes, the shared build and the consumers go (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-$(nproc)}
static_build=${2:-build/release}
w=$(realpath -m "${3:-build}")
root=$PWD

# consumer_by_pkg_config PREFIX OUT [--static]: compiles main.cpp with pkg-config's flags alone
consumer_by_pkg_config() {
  local prefix=$1 out=$2 static=${3:-}
  local pc
  pc=$(dirname "$(find "$prefix" -name glassbox.pc | head -n 1)")
  local flags libdir
  flags=$(PKG_CONFIG_PATH=$pc pkg-config $static --cflags --libs glassbox)
  libdir=$(PKG_CONFIG_PATH=$pc pkg-config --variable=libdir glassbox)
  # shellcheck disable=SC2086  # the flags are words
  ${CXX:-c++} -std=c++17 tests/consumer/main.cpp -o "$out" $flags -Wl,-rpath,"$libdir"
  "$out"
}

echo "-- static package ($static_build): find_package, then pkg-config --static"
rm -rf "$w/prefix" "$w/consumer"
cmake --install "$static_build" --prefix "$w/prefix" >/dev/null
cmake -S tests/consumer -B "$w/consumer" -DCMAKE_PREFIX_PATH="$w/prefix" >/dev/null
cmake --build "$w/consumer" -j"$jobs" >/dev/null
"$w/consumer/consumer"
consumer_by_pkg_config "$w/prefix" "$w/consumer/consumer_pc" --static

echo "-- CPU-only shared package: find_package without CUDA (or the private libraries), pkg-config"
rm -rf "$w/prefix_shared" "$w/consumer_shared"
cmake -S . -B "$w/shared" -DCMAKE_BUILD_TYPE=Release -DGLASSBOX_SHARED=ON -DGLASSBOX_CUDA=OFF \
  -DGLASSBOX_TESTS=OFF -DGLASSBOX_EXAMPLES=OFF -DGLASSBOX_BENCH=OFF >/dev/null
cmake --build "$w/shared" -j"$jobs" >/dev/null
cmake --install "$w/shared" --prefix "$w/prefix_shared" >/dev/null
lib=$(find "$w/prefix_shared" -name 'libglassbox.so.*.*.*' | head -n 1)
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = "libglassbox.so.0.1" ] || { echo "unexpected SONAME '$soname' of $lib"; exit 1; }
no_find=""
for p in CUDAToolkit ZLIB PNG JPEG Eigen3 nlohmann_json; do
  no_find+=" -DCMAKE_DISABLE_FIND_PACKAGE_$p=ON"
done
# shellcheck disable=SC2086
# (CMake's "not used by the project" about these is the point: nothing looked for them)
env PATH=/usr/bin:/bin cmake --no-warn-unused-cli -S tests/consumer -B "$w/consumer_shared" \
  -DCMAKE_PREFIX_PATH="$w/prefix_shared" $no_find >/dev/null
cmake --build "$w/consumer_shared" -j"$jobs" >/dev/null
"$w/consumer_shared/consumer"
consumer_by_pkg_config "$w/prefix_shared" "$w/consumer_shared/consumer_pc"
echo "install: 4 consumers built and run"
