// mnist_plot OUT.png METRICS.csv [METRICS.csv ...]: the notebook's accuracy and loss curves
// for one or more training runs, side by side (see plot.h).
//
// Every metrics file is checked (a readable regular file -- a FIFO would block --, a metrics
// log with rows) and OUT's folder (exists, writable; OUT not a folder) before gnuplot runs.
// Exit status: 0 done, 1 a bad file or a failure (the message names it), 2 a usage error.
#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "plot.h"

using namespace glassbox;

namespace {

void usage(std::ostream& os) {
  os << "usage: mnist_plot OUT.png METRICS.csv [METRICS.csv ...]\n"
        "\n"
        "Draws test-batch accuracy and training loss against seconds, one line per metrics\n"
        "file (as written by mnist, labelled by the file name without .csv), into OUT.png.\n"
        "Needs gnuplot (Debian: apt-get install gnuplot-nox).\n"
        "Exit status: 0 success, 1 a bad file or a failure (the message names it), 2 a usage\n"
        "error.\n";
}

int run(int argc, char** argv) {
  // No flags but --help: anything else starting with '-' is a mistyped option, not a file
  // name; refusing it beats writing a PNG called "-o".
  const cli::Args args(argc, argv, {});
  if (args.help()) {
    usage(std::cout);
    return 0;
  }
  const std::vector<std::string>& pos = args.positional();
  if (pos.size() < 2) throw cli::UsageError("needs OUT.png and at least one metrics file");
  const std::string& png = pos[0];
  // With the arguments swapped ("mnist_plot a.csv b.csv") we would overwrite a metrics log
  // with a picture; insisting on the extension catches that.
  if (png.size() < 4 || png.compare(png.size() - 4, 4, ".png") != 0)
    throw cli::UsageError("the first argument is the output and must end in .png, got " +
                          cli::quoted(png));
  const std::vector<std::string> files(pos.begin() + 1, pos.end());
  for (const std::string& f : files) cli::check_input_file("metrics file", f);
  cli::check_output_file("output", png);
  // A metrics file may be drawn twice, but never overwritten by the picture.
  for (const std::string& f : files)
    cli::check_distinct_outputs({{"the output", png}, {"metrics file", f}});
  cli::doing("drawing the plot");
  mnist::plot_metrics(files, png);
  std::cout << "wrote " << png << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("mnist_plot", [&] { return run(argc, argv); });
}
