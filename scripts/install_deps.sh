#!/usr/bin/env bash
# Installs the Debian packages glassbox builds and tests with. Skips apt when all are present.
# clang (with libFuzzer's runtime, OpenMP and llvm-symbolizer) builds the fuzz targets only.
set -euo pipefail
packages=(cmake g++ make pkg-config libeigen3-dev doctest-dev nlohmann-json3-dev zlib1g-dev libstb-dev libpng-dev libjpeg-dev clang-format gnuplot-nox dataset-fashion-mnist
          clang libclang-rt-14-dev libomp-dev llvm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
