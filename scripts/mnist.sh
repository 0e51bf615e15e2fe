#!/usr/bin/env bash
# The main job on a fresh machine, in one command: installs the Debian packages, builds
# glassbox (Release), finds the MNIST files (data/mnist/, ../shared/data/mnist/, else downloads
# and MD5-checks them), trains the notebook's CNN for 5 epochs and prints the test accuracy.
# Arguments go to the mnist program, e.g. `bash scripts/mnist.sh --epochs 1 --plot mnist.png`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target mnist mnist_plot
exec ./build/release/examples/mnist/mnist "$@"
