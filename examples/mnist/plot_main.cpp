// mnist_plot OUT.png METRICS.csv [METRICS.csv ...]: the notebook's accuracy and loss curves
// for one or more training runs, side by side (see plot.h).
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "plot.h"

namespace {

void usage(std::ostream& os) {
  os << "usage: mnist_plot OUT.png METRICS.csv [METRICS.csv ...]\n"
        "\n"
        "Draws test-batch accuracy and training loss against seconds, one line per metrics\n"
        "file (as written by mnist, labelled by the file name without .csv), into OUT.png.\n"
        "Needs gnuplot (Debian: apt-get install gnuplot-nox).\n";
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      usage(std::cout);
      return 0;
    }
  }
  // Anything else starting with '-' is a mistyped option, not a file name; refusing it beats
  // writing a PNG called "-o".
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') {
      std::cerr << "mnist_plot: unknown option " << argv[i] << "\n";
      usage(std::cerr);
      return 2;
    }
  }
  if (argc < 3) {
    usage(std::cerr);
    return 2;
  }
  std::string png = argv[1];
  // With the arguments swapped ("mnist_plot a.csv b.csv") we would overwrite a metrics log
  // with a picture; insisting on the extension catches that.
  if (png.size() < 4 || png.compare(png.size() - 4, 4, ".png") != 0) {
    std::cerr << "mnist_plot: the first argument is the output and must end in .png, got " << png
              << "\n";
    usage(std::cerr);
    return 2;
  }
  std::vector<std::string> files(argv + 2, argv + argc);
  try {
    glassbox::mnist::plot_metrics(files, png);
  } catch (const glassbox::Error& e) {
    std::cerr << "mnist_plot: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    // e.g. std::filesystem errors or bad_alloc: still one line, still a failure exit.
    std::cerr << "mnist_plot: " << e.what() << "\n";
    return 1;
  }
  std::cout << "wrote " << png << "\n";
  return 0;
}
