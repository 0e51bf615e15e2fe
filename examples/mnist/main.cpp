// Trains the notebook's CNN on MNIST (or Fashion-MNIST) and reports the test accuracy.
//   ./mnist                       5 epochs, batch 1000, Adam 1e-3, seed 0
//   ./mnist --metrics run.csv --plot run.png --conv-algo im2col
//   ./mnist --save run.ckpt --epochs 2; ./mnist --resume run.ckpt --save run.ckpt --epochs 5
// Run with --help for every flag.
//
// Order of work, so that a mistake costs seconds, not a training run: parse every flag
// (strictly: cli.h), check every input file (--resume must be a training checkpoint of this
// network, --compare a metrics log) and every output path (--save, --export, --metrics,
// --plot and the .csv it derives), take the --save lock, and only then load the data and
// train. After training the weights are exported before the plot is drawn, so a plot that
// fails cannot lose them. Exit status: 0 done, 1 a bad file or a failure, 2 a bad flag.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "datasets/mnist.h"
#include "metrics.h"
#include "nn/serialize.h"
#include "plot.h"
#include "progress.h"
#include "train.h"

using namespace glassbox;

namespace {

const char* kUsage = R"(usage: mnist [options]
Trains the notebook's CNN (4 convolutions, 2 max-pools, 2 linear layers, dropout 0.2) on
MNIST with Adam and prints the accuracy on the 10,000 test images.

  --epochs N        training epochs, 0 to 100000 (default 5)
  --batch N         batch size, 1 to 65536 (default 1000)
  --lr X            Adam learning rate, a decimal number in (0, 10] (default 0.001). With
                    --resume it replaces the checkpoint's; without, the checkpoint's is kept
  --seed N          seed for the initial weights, dropout and the data order (default 0)
  --threads N       CPU threads, 1 to 4x the cores (default: all cores)
  --device D        cpu, cuda or cuda:N (default cpu). On cuda the data sets are uploaded
                    once and each batch is gathered and normalised on the device
  --conv-algo A     auto, direct, shiftgemm, im2col or flat (default auto). Auto picks, per
                    layer: on the CPU flat for <= 16 in / 32 out channels per group at stride
                    1, else im2col (few inputs) or shiftgemm; on CUDA flat (the tiled kernels)
                    for <= 32 channels per group, else im2col + cuBLAS (no shiftgemm there)
  --data DIR        folder with the four IDX files (.gz or raw). Default: data/mnist/, then
                    ../shared/data/mnist/ (Fashion: data/fashion-mnist/, then Debian's
                    /usr/share/datasets/fashion-mnist/), else download into data/<name>/
  --skip-md5        with --data: use the files even if they are not the canonical ones (your
                    own 28x28 images and labels 0-9 in MNIST's IDX format)
  --dataset NAME    mnist or fashion (default mnist)
  --subset N        train on the first N training images only (default: all; at most the
                    size of the training set)
  --metrics FILE    write (seconds, step, loss, test-batch accuracy) every 10 steps as CSV;
                    with --resume an existing log is continued
  --plot FILE       draw test accuracy and loss vs time as PNG (gnuplot); the metrics go to
                    --metrics, or to FILE with a .csv extension
  --compare FILE    another run's metrics CSV to draw beside this one (repeatable)
  --save FILE       write a training checkpoint (weights, Adam state, epoch, random state,
                    data order) after every epoch, atomically; `predict` reads it too. The
                    run holds FILE.lock while it lasts: a second run saving to the same FILE
                    fails at once, naming the first one's pid (it does not wait)
  --resume FILE     continue the run saved in FILE (by --save) up to --epochs (bit-identical
                    on CPU); the batch size and data set must be the same
  --export FILE     write the trained weights alone as safetensors with PyTorch's names
                    (scripts/safetensors_to_torch.py turns them into a torch state_dict)
  --detect-anomaly  stop at the first op whose forward or backward turns finite numbers
                    into NaN or Inf, naming the op and the layer it ran in (a debugging mode:
                    every recorded op's output and every gradient is scanned, so it is slower)
  --help            this text

Every file is checked before the data is loaded: inputs must exist and be readable regular
files, outputs must go to an existing, writable folder. Exit status: 0 success, 1 a bad file
or a failure (the message names the file), 2 a bad flag or flag value.
)";

// Every flag mnist knows: adding one is one line here and one in kUsage.
const std::vector<cli::FlagSpec> kFlags = {
    {"epochs"},
    {"batch"},
    {"lr"},
    {"seed"},
    {"threads"},
    {"device"},
    {"conv-algo"},
    {"data"},
    {"skip-md5", false},
    {"dataset"},
    {"subset"},
    {"metrics"},
    {"plot"},
    {"compare", true, true},
    {"save"},
    {"resume"},
    {"export"},
    {"detect-anomaly", false},
};

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

// Everything about the files a run reads and writes, checked before the data is loaded.
struct Files {
  std::string metrics, plot, save, resume, exported;
  std::vector<std::string> compare;
  std::optional<mnist::ResumeInfo> resume_info;
};

Files check_files(const cli::Args& args) {
  Files f;
  f.plot = args.get("plot");
  f.metrics = args.get("metrics");
  const bool derived_metrics = !f.plot.empty() && f.metrics.empty();
  if (derived_metrics) f.metrics = std::filesystem::path(f.plot).replace_extension(".csv").string();
  f.save = args.get("save");
  f.resume = args.get("resume");
  f.exported = args.get("export");
  f.compare = args.all("compare");
  if (!f.compare.empty() && f.plot.empty())
    throw cli::UsageError("--compare draws beside this run's --plot; give --plot too");

  if (!f.resume.empty()) {
    cli::check_input_file("--resume", f.resume);
    f.resume_info = mnist::check_resume(f.resume);
  }
  for (const std::string& c : f.compare) {
    cli::check_input_file("--compare", c);
    GB_CHECK(!mnist::read_metrics(c).empty(), "--compare ", cli::quoted(c),
             " has no data rows to plot");
  }
  const std::string metrics_flag = derived_metrics ? "--plot's metrics file" : "--metrics";
  if (!f.plot.empty()) {
    cli::check_output_file("--plot", f.plot);
    mnist::check_gnuplot();
  }
  if (!f.metrics.empty()) {
    cli::check_output_file(metrics_flag, f.metrics);
    // A resumed run appends: the old log must be one (MetricsWriter checks again).
    std::error_code ec;
    if (!f.resume.empty() && std::filesystem::file_size(f.metrics, ec) > 0 && !ec)
      (void)mnist::read_metrics(f.metrics);
  }
  if (!f.save.empty()) cli::check_output_file("--save", f.save);
  if (!f.exported.empty()) cli::check_output_file("--export", f.exported);
  cli::check_distinct_outputs({{"--save", f.save},
                               {"--export", f.exported},
                               {metrics_flag, f.metrics},
                               {"--plot", f.plot}});
  return f;
}

struct Data {
  std::shared_ptr<datasets::MNIST> train, test;
};

Data load_data(const cli::Args& args, const datasets::IdxDatasetInfo& info, bool fashion) {
  cli::doing("loading the data set");
  std::string root = args.get("data");
  const bool verify = !args.has("skip-md5");
  if (verify) {
    datasets::LocateOptions locate;
    locate.explicit_dir = root;
    locate.candidates = datasets::default_candidates(info);
    locate.download_dir = fashion ? "data/fashion-mnist" : "data/mnist";
    locate.log = &std::cout;
    root = datasets::locate_dataset(info, locate);
  }
  Data d;
  if (fashion) {
    d.train = std::make_shared<datasets::FashionMNIST>(root, datasets::Split::Train, info.normalize,
                                                       verify);
    d.test = std::make_shared<datasets::FashionMNIST>(root, datasets::Split::Test, info.normalize,
                                                      verify);
  } else {
    d.train =
        std::make_shared<datasets::MNIST>(root, datasets::Split::Train, info.normalize, verify);
    d.test = std::make_shared<datasets::MNIST>(root, datasets::Split::Test, info.normalize, verify);
  }
  GB_CHECK(d.train->size() > 0 && d.test->size() > 0, info.name, " in ", cli::quoted(root),
           ": the training and test sets must not be empty");
  return d;
}

// What the run really uses, in one line: on a resume the checkpoint's epoch and learning rate.
void print_banner(const mnist::TrainOptions& o, const Files& files, const Data& data,
                  const datasets::IdxDatasetInfo& info, const std::string& conv,
                  const std::string& device) {
  std::cout << info.name << ": " << data.train->size() << " training, " << data.test->size()
            << " test images | " << o.epochs << " epochs";
  std::ostringstream lr;
  lr << o.lr;
  std::string lr_text = lr.str();
  if (files.resume_info) {
    const mnist::ResumeInfo& r = *files.resume_info;
    std::cout << " (resuming after epoch " << r.epoch
              << (r.epoch >= o.epochs ? ": nothing left to train, raise --epochs" : "") << ")";
    std::ostringstream had;
    had << r.lr;
    lr_text = o.override_lr ? lr_text + " (the checkpoint had " + had.str() + ")"
                            : had.str() + " (from the checkpoint)";
  }
  std::cout << ", batch " << o.batch_size << ", Adam lr " << lr_text << ", seed " << o.seed << " | "
            << get_num_threads() << " threads, conv " << conv << ", device " << device << std::endl;
}

void print_result(const mnist::TrainResult& result, int64_t test_size) {
  const double total =
      std::accumulate(result.epoch_seconds.begin(), result.epoch_seconds.end(), 0.0);
  std::cout << std::fixed << std::setprecision(2)
            << "test accuracy: " << 100.0 * result.test_accuracy << "% ("
            << std::llround(result.test_accuracy * double(test_size)) << "/" << test_size << ")\n";
  if (!result.epoch_seconds.empty())
    std::cout << "seconds per epoch: " << total / double(result.epoch_seconds.size()) << "\n";
}

int run(int argc, char** argv) {
  const cli::Args args(argc, argv, kFlags);
  if (args.help()) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional().empty())
    throw cli::UsageError("unexpected argument " + cli::quoted(args.positional()[0]));

  // 1. Flags, every value checked.
  mnist::TrainOptions options;
  options.epochs = args.get_int("epochs", 5, 0, mnist::kMaxEpochs);
  options.batch_size = args.get_int("batch", 1000, 1, mnist::kMaxBatch);
  options.lr = args.get_real("lr", 1e-3, 0, mnist::kMaxLr, /*min_exclusive=*/true);
  options.override_lr = args.has("lr");
  options.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0, kMaxInt));
  const int64_t threads = args.get_int("threads", 0, 1, cli::max_threads());
  const std::string device = args.get("device", "cpu");
  options.device = cli::device_flag("--device", device);
  const std::string conv = args.get("conv-algo", "auto");
  const F::ConvAlgo conv_algo = cli::conv_algo_flag("--conv-algo", conv);
  const std::string dataset = args.get("dataset", "mnist");
  if (dataset != "mnist" && dataset != "fashion")
    throw cli::UsageError("--dataset expects mnist or fashion, got " + cli::quoted(dataset));
  if (args.has("skip-md5") && !args.has("data"))
    throw cli::UsageError("--skip-md5 needs --data (the folder of your own IDX files)");
  const int64_t subset = args.get_int("subset", 0, 1, kMaxInt);

  // 2. Files, before anything is loaded or trained.
  const Files files = check_files(args);
  options.metrics_path = files.metrics;
  options.checkpoint_path = files.save;
  options.resume_path = files.resume;

  // 3. One run at a time per --save file (released by the kernel if this process dies).
  std::optional<cli::RunLock> lock;
  if (!files.save.empty()) lock.emplace(files.save, "mnist");

  // 4. Data.
  const bool fashion = dataset == "fashion";
  const datasets::IdxDatasetInfo& info =
      fashion ? datasets::fashion_mnist_info() : datasets::mnist_info();
  Data data = load_data(args, info, fashion);
  if (args.has("subset")) {
    if (subset > data.train->size())
      throw cli::UsageError(str("--subset ", subset, " is more than the ", data.train->size(),
                                " training images of ", info.name));
    if (subset < data.train->size())
      data.train = std::make_shared<datasets::MNIST>(data.train->head(subset));
  }

  // 5. Train.
  if (threads > 0) set_num_threads(static_cast<int>(threads));
  F::set_default_conv_algo(conv_algo);
  options.log = &std::cerr;
  options.interactive = mnist::Progress::is_terminal(STDERR_FILENO);
  manual_seed(options.seed);
  mnist::MnistNet net;
  if (options.device.is_cuda()) net->to(options.device);
  print_banner(options, files, data, info, conv, device);
  autograd::DetectAnomalyGuard anomaly(args.has("detect-anomaly"));
  if (args.has("detect-anomaly")) std::cout << "anomaly detection on" << std::endl;
  cli::doing("training");
  const mnist::TrainResult result = mnist::train(net, data.train, data.test, options);
  print_result(result, data.test->size());

  // 6. Outputs: the weights first, so a failing plot cannot lose them.
  cli::doing("writing the outputs");
  if (!files.exported.empty()) {
    nn::save(*net, files.exported, {{"model", "glassbox mnist notebook CNN"}});
    std::cout << "weights: " << files.exported << "\n";
  }
  if (!files.save.empty()) std::cout << "checkpoint: " << files.save << "\n";
  if (!files.metrics.empty()) std::cout << "metrics: " << files.metrics << "\n";
  if (!files.plot.empty()) {
    std::vector<std::string> plotted{files.metrics};
    plotted.insert(plotted.end(), files.compare.begin(), files.compare.end());
    mnist::plot_metrics(plotted, files.plot);
    std::cout << "plot: " << files.plot << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("mnist", [&] { return run(argc, argv); });
}
