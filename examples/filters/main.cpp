// filters: the notebook's image kernels from the command line.
//   filters IN OUT [--kernel emboss|identity|sharpen|edge|"a,b,c,d,e,f,g,h,i"]
//                  [--algo auto|direct|shiftgemm|im2col|flat|all] [--same] [--repeat N]
//                  [--threads N] [--device cpu|cuda]
// Writes OUT as PNG and prints how long each algorithm took (best of N runs). With
// --algo all, every algorithm runs, their results are compared, and Direct's is written.
// On cuda each run is timed to the end of its kernels (the device is synchronised), and
// "all" leaves out shiftgemm, which has no CUDA version.
//
// Flags are parsed strictly (examples/cli): --repeat and --threads are decimal whole numbers
// in a range, the nine kernel numbers finite decimals. IN is checked (a readable regular
// file) and OUT's folder (exists, writable; OUT not a folder) before the image is read.
// Exit status: 0 done, 1 a bad file or a failure (the message names it), 2 a bad flag.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <vector>

#include "cli.h"
#include "cuda/runtime.h"
#include "filters.h"

using namespace glassbox;

namespace {

constexpr int64_t kMaxRepeat = 10000;
constexpr double kMaxWeight = 1e6;  // a kernel weight beyond this only saturates every pixel

void usage(std::ostream& os) {
  os << "usage: filters IN OUT [--kernel emboss|identity|sharpen|edge|a,b,...,i]\n"
        "               [--algo auto|direct|shiftgemm|im2col|flat|all] [--same] [--repeat N]\n"
        "               [--threads N] [--device cpu|cuda]\n"
        "  IN           PNG/JPG/BMP/...; OUT is written as PNG\n"
        "  --kernel     a named kernel or nine comma-separated decimal numbers (default emboss)\n"
        "  --algo       the convolution algorithm, or all to compare them (default all)\n"
        "  --same       zero-pad so OUT has IN's size\n"
        "  --repeat N   runs per algorithm, 1 to 10000; the best time is printed (default 5)\n"
        "  --threads N  CPU threads, 1 to 4x the cores (default: all cores)\n"
        "  --device D   cpu (default), cuda or cuda:N\n"
        "Exit status: 0 success, 1 a bad file or a failure (the message names it), 2 a bad flag.\n";
}

const std::vector<cli::FlagSpec> kFlags = {{"kernel"}, {"algo"},    {"same", false},
                                           {"repeat"}, {"threads"}, {"device"}};

// A named kernel, or nine numbers each parsed as strictly as every numeric flag.
filters::Kernel3 kernel_flag(const std::string& spec) {
  for (const char* name : {"identity", "emboss", "sharpen", "edge"})
    if (spec == name) return filters::parse_kernel(spec);
  filters::Kernel3 k{};
  size_t n = 0, begin = 0;
  while (begin <= spec.size()) {
    size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    if (n == 9) throw cli::UsageError("--kernel " + cli::quoted(spec) + " has more than 9 numbers");
    const std::string what = "--kernel number " + std::to_string(n + 1);
    k[n] = float(cli::parse_real(what, spec.substr(begin, end - begin), -kMaxWeight, kMaxWeight));
    ++n;
    begin = end + 1;
  }
  if (n != 9)
    throw cli::UsageError(
        "--kernel expects identity, emboss, sharpen, edge or nine "
        "comma-separated numbers, got " +
        cli::quoted(spec));
  return k;
}

std::vector<F::ConvAlgo> algos_flag(const std::string& algo, Device device) {
  if (algo == "all" && device.is_cuda())
    return {F::ConvAlgo::Direct, F::ConvAlgo::Im2col, F::ConvAlgo::Flat, F::ConvAlgo::Auto};
  if (algo == "all")
    return {F::ConvAlgo::Direct, F::ConvAlgo::ShiftGemm, F::ConvAlgo::Im2col, F::ConvAlgo::Flat,
            F::ConvAlgo::Auto};
  return {cli::conv_algo_flag("--algo", algo)};
}

int run(int argc, char** argv) {
  const cli::Args args(argc, argv, kFlags);
  if (args.help()) {
    usage(std::cout);
    return 0;
  }
  const filters::Kernel3 k = kernel_flag(args.get("kernel", "emboss"));
  const bool same = args.has("same");
  const int repeat = static_cast<int>(args.get_int("repeat", 5, 1, kMaxRepeat));
  const int64_t threads = args.get_int("threads", 0, 1, cli::max_threads());
  const Device device = cli::device_flag("--device", args.get("device", "cpu"));
  const std::vector<F::ConvAlgo> algos = algos_flag(args.get("algo", "all"), device);
  const std::vector<std::string>& pos = args.positional();
  if (pos.size() != 2)
    throw cli::UsageError(str("expects two file names, IN and OUT, got ", pos.size()));
  cli::check_input_file("input image", pos[0]);
  cli::check_output_file("output image", pos[1]);
  cli::check_distinct_outputs({{"input image", pos[0]}, {"output image", pos[1]}});
  if (threads > 0) set_num_threads(static_cast<int>(threads));

  cli::doing("reading the image " + cli::quoted(pos[0]));
  Tensor image = filters::load_image(pos[0]).to(device);
  std::cout << "image " << pos[0] << ": " << image.size(1) << " channels, " << image.size(3) << "x"
            << image.size(2) << ", on " << device.str() << "\n";

  cli::doing("filtering");
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
  std::fflush(stdout);
  cli::doing("writing " + cli::quoted(pos[1]));
  filters::save_png(first.cpu(), pos[1]);
  std::cout << "wrote " << pos[1] << " (" << first.size(3) << "x" << first.size(2) << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("filters", [&] { return run(argc, argv); });
}
