#!/usr/bin/env bash
# Fails when any C++/CUDA source differs from what clang-format (.clang-format) produces.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' 2>/dev/null || find . -name '*.cpp' -o -name '*.h' -o -name '*.cu')
clang-format --dry-run -Werror $files
echo "format: $(echo "$files" | wc -w) files clang-formatted"
