// Trains the notebook's CNN on MNIST (or Fashion-MNIST) and reports the test accuracy.
//   ./mnist                       5 epochs, batch 1000, Adam 1e-3, seed 0
//   ./mnist --metrics run.csv --plot run.png --conv-algo im2col
// Run with --help for every flag.
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "datasets/mnist.h"
#include "nn/serialize.h"
#include "plot.h"
#include "progress.h"
#include "train.h"

using namespace glassbox;

namespace {

const char* kUsage = R"(usage: mnist [options]
Trains the notebook's CNN (4 convolutions, 2 max-pools, 2 linear layers, dropout 0.2) on
MNIST with Adam and prints the accuracy on the 10,000 test images.

  --epochs N        training epochs (default 5)
  --batch N         batch size (default 1000)
  --lr X            Adam learning rate (default 0.001)
  --seed N          seed for the initial weights, dropout and the data order (default 0)
  --threads N       CPU threads (default: all cores)
  --device D        cpu, cuda or cuda:N (default cpu). On cuda the data sets are uploaded
                    once and each batch is gathered and normalised on the device
  --conv-algo A     auto, direct, shiftgemm, im2col or flat (default auto). Auto picks, per
                    layer: on the CPU flat for <= 16 in / 32 out channels per group at stride
                    1, else im2col (few inputs) or shiftgemm; on CUDA flat (the tiled kernels)
                    for <= 32 channels per group, else im2col + cuBLAS (no shiftgemm there)
  --data DIR        folder with the four IDX files (.gz or raw). Default: data/mnist/, then
                    ../shared/data/mnist/ (Fashion: data/fashion-mnist/, then Debian's
                    /usr/share/datasets/fashion-mnist/), else download into data/<name>/
  --dataset NAME    mnist or fashion (default mnist)
  --subset N        train on the first N training images only (default: all)
  --metrics FILE    write (seconds, step, loss, test-batch accuracy) every 10 steps as CSV
  --plot FILE       draw test accuracy and loss vs time as PNG (gnuplot); the metrics go to
                    --metrics, or to FILE with a .csv extension
  --compare FILE    another run's metrics CSV to draw beside this one (repeatable)
  --save FILE       write a training checkpoint (weights, Adam state, epoch, random state,
                    data order) after every epoch, atomically; `predict` reads it too
  --resume FILE     continue the run saved in FILE up to --epochs (bit-identical on CPU)
  --export FILE     write the trained weights alone as safetensors with PyTorch's names
                    (scripts/safetensors_to_torch.py turns them into a torch state_dict)
  --help            this text
)";

struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> compare;
};

Args parse(int argc, char** argv) {
  static const char* known[] = {"epochs",    "batch",   "lr",      "seed",   "threads", "device",
                                "conv-algo", "data",    "dataset", "subset", "metrics", "plot",
                                "save",      "compare", "resume",  "export"};
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    GB_CHECK(arg.rfind("--", 0) == 0, "unexpected argument '", arg, "' (see --help)");
    arg = arg.substr(2);
    const size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      GB_CHECK(i + 1 < argc, "--", arg, " needs a value (see --help)");
      value = argv[++i];
    }
    bool ok = false;
    for (const char* k : known) ok = ok || arg == k;
    GB_CHECK(ok, "unknown option --", arg, " (see --help)");
    if (arg == "compare")
      args.compare.push_back(value);
    else
      args.values[arg] = value;
  }
  return args;
}

int64_t to_int(const Args& args, const std::string& key, int64_t fallback, int64_t min) {
  auto it = args.values.find(key);
  if (it == args.values.end()) return fallback;
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  GB_CHECK(used == it->second.size() && !it->second.empty(), "--", key,
           " expects an integer, got '", it->second, "'");
  GB_CHECK(v >= min, "--", key, " must be at least ", min, ", got ", v);
  return v;
}

double to_double(const Args& args, const std::string& key, double fallback) {
  auto it = args.values.find(key);
  if (it == args.values.end()) return fallback;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  GB_CHECK(used == it->second.size() && v > 0, "--", key, " expects a positive number, got '",
           it->second, "'");
  return v;
}

std::string get(const Args& args, const std::string& key, const std::string& fallback = "") {
  auto it = args.values.find(key);
  return it == args.values.end() ? fallback : it->second;
}

int run(int argc, char** argv) {
  const Args args = parse(argc, argv);
  mnist::TrainOptions options;
  options.epochs = to_int(args, "epochs", 5, 0);
  options.batch_size = to_int(args, "batch", 1000, 1);
  options.lr = to_double(args, "lr", 1e-3);
  options.seed = static_cast<uint64_t>(to_int(args, "seed", 0, 0));
  const int64_t threads = to_int(args, "threads", 0, 0);
  if (threads > 0) set_num_threads(static_cast<int>(threads));
  const std::string device = get(args, "device", "cpu");
  options.device = usable_device(device, "--device");
  F::set_default_conv_algo(F::parse_conv_algo(get(args, "conv-algo", "auto")));
  const std::string dataset = get(args, "dataset", "mnist");
  GB_CHECK(dataset == "mnist" || dataset == "fashion", "--dataset expects mnist or fashion, got '",
           dataset, "'");
  const bool fashion = dataset == "fashion";
  const datasets::IdxDatasetInfo& info =
      fashion ? datasets::fashion_mnist_info() : datasets::mnist_info();

  datasets::LocateOptions locate;
  locate.explicit_dir = get(args, "data");
  locate.candidates = datasets::default_candidates(info);
  locate.download_dir = fashion ? "data/fashion-mnist" : "data/mnist";
  locate.log = &std::cout;
  const std::string root = datasets::locate_dataset(info, locate);
  std::shared_ptr<datasets::MNIST> train_set, test_set;
  if (fashion) {
    train_set = std::make_shared<datasets::FashionMNIST>(root, datasets::Split::Train);
    test_set = std::make_shared<datasets::FashionMNIST>(root, datasets::Split::Test);
  } else {
    train_set = std::make_shared<datasets::MNIST>(root, datasets::Split::Train);
    test_set = std::make_shared<datasets::MNIST>(root, datasets::Split::Test);
  }
  const int64_t subset = to_int(args, "subset", train_set->size(), 1);
  if (subset < train_set->size())
    train_set = std::make_shared<datasets::MNIST>(train_set->head(subset));

  const std::string plot = get(args, "plot");
  options.metrics_path = get(args, "metrics");
  if (!plot.empty() && options.metrics_path.empty())
    options.metrics_path = std::filesystem::path(plot).replace_extension(".csv").string();
  options.checkpoint_path = get(args, "save");
  options.resume_path = get(args, "resume");
  options.log = &std::cerr;
  options.interactive = mnist::Progress::is_terminal(STDERR_FILENO);

  manual_seed(options.seed);
  mnist::MnistNet net;
  if (options.device.is_cuda()) net->to(options.device);
  std::cout << info.name << ": " << train_set->size() << " training, " << test_set->size()
            << " test images | " << options.epochs << " epochs, batch " << options.batch_size
            << ", Adam lr " << options.lr << ", seed " << options.seed << " | " << get_num_threads()
            << " threads, conv " << get(args, "conv-algo", "auto") << ", device " << device
            << std::endl;

  const mnist::TrainResult result = mnist::train(net, train_set, test_set, options);

  const double total =
      std::accumulate(result.epoch_seconds.begin(), result.epoch_seconds.end(), 0.0);
  std::cout << std::fixed << std::setprecision(2)
            << "test accuracy: " << 100.0 * result.test_accuracy << "% ("
            << std::llround(result.test_accuracy * test_set->size()) << "/" << test_set->size()
            << ")\n";
  if (!result.epoch_seconds.empty())
    std::cout << "seconds per epoch: " << total / result.epoch_seconds.size() << "\n";
  if (!options.metrics_path.empty()) std::cout << "metrics: " << options.metrics_path << "\n";
  if (!plot.empty()) {
    std::vector<std::string> files{options.metrics_path};
    files.insert(files.end(), args.compare.begin(), args.compare.end());
    mnist::plot_metrics(files, plot);
    std::cout << "plot: " << plot << "\n";
  }
  if (!options.checkpoint_path.empty())
    std::cout << "checkpoint: " << options.checkpoint_path << "\n";
  const std::string weights = get(args, "export");
  if (!weights.empty()) {
    nn::save(*net, weights, {{"model", "glassbox mnist notebook CNN"}});
    std::cout << "weights: " << weights << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "mnist: " << e.what() << "\n";
    return 1;
  }
}
