// filters: the notebook's image kernels from the command line.
//   filters IN OUT [--kernel emboss|identity|sharpen|edge|"a,b,c,d,e,f,g,h,i"]
//                  [--algo auto|direct|shiftgemm|im2col|flat|all] [--same] [--repeat N]
//                  [--device cpu|cuda]
// Writes OUT as PNG and prints how long each algorithm took (best of N runs). With
// --algo all, every algorithm runs, their results are compared, and Direct's is written.
// On cuda each run is timed to the end of its kernels (the device is synchronised), and
// "all" leaves out shiftgemm, which has no CUDA version.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <vector>

#include "cuda/runtime.h"
#include "filters.h"

using namespace glassbox;

namespace {
void usage() {
  std::cout
      << "usage: filters IN OUT [--kernel emboss|identity|sharpen|edge|a,b,...,i]\n"
         "               [--algo auto|direct|shiftgemm|im2col|flat|all] [--same] [--repeat N]\n"
         "               [--threads N] [--device cpu|cuda]\n";
}
}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> pos;
  std::string kernel = "emboss", algo = "all";
  bool same = false;
  int repeat = 5;
  Device device = kCPU;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      GB_CHECK(i + 1 < argc, "filters: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") return usage(), 0;
    if (a == "--kernel")
      kernel = value();
    else if (a == "--algo")
      algo = value();
    else if (a == "--same")
      same = true;
    else if (a == "--repeat")
      repeat = std::max(1, std::stoi(value()));
    else if (a == "--device")
      device = usable_device(value(), "--device");
    else if (a == "--threads")
      set_num_threads(std::stoi(value()));
    else if (a.rfind("--", 0) == 0)
      fail(str("filters: unknown option ", a));
    else
      pos.push_back(a);
  }
  if (pos.size() != 2) return usage(), 2;
  filters::Kernel3 k = filters::parse_kernel(kernel);
  Tensor image = filters::load_image(pos[0]).to(device);
  std::cout << "image " << pos[0] << ": " << image.size(1) << " channels, " << image.size(3) << "x"
            << image.size(2) << ", on " << device.str() << "\n";

  std::vector<F::ConvAlgo> algos;
  if (algo == "all" && device.is_cuda())
    algos = {F::ConvAlgo::Direct, F::ConvAlgo::Im2col, F::ConvAlgo::Flat, F::ConvAlgo::Auto};
  else if (algo == "all")
    algos = {F::ConvAlgo::Direct, F::ConvAlgo::ShiftGemm, F::ConvAlgo::Im2col, F::ConvAlgo::Flat,
             F::ConvAlgo::Auto};
  else
    algos = {F::parse_conv_algo(algo)};

  NoGradGuard no_record;
  Tensor first;
  std::printf("%-10s %12s %14s\n", "algorithm", "best ms", "max |diff|");
  for (F::ConvAlgo a : algos) {
    Tensor out;
    double best = 1e30;
    for (int r = 0; r < repeat; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      out = filters::apply(image, k, same, a);
      if (device.is_cuda()) cuda::synchronize(device.index);
      best = std::min(
          best,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    double diff = first.defined() ? max(abs(out - first)).item() : 0.0;
    std::string name = F::conv_algo_name(a);
    if (a == F::ConvAlgo::Auto)
      name += "->" + std::string(F::conv_algo_name(F::conv_algo_for(
                         image.shape(), {image.size(1), 1, 3, 3},
                         F::ConvParams().set_groups(image.size(1)).set_padding(same ? 1 : 0), false,
                         device)));
    std::printf("%-10s %12.3f %14.3g\n", name.c_str(), best, diff);
    if (!first.defined()) first = out;
  }
  filters::save_png(first.cpu(), pos[1]);
  std::cout << "wrote " << pos[1] << " (" << first.size(3) << "x" << first.size(2) << ")\n";
  return 0;
} catch (const glassbox::Error& e) {
  std::cerr << e.what() << "\n";
  return 1;
}
