// The notebook's work, timed: one JSON line per case on stdout.
//
//   bench_notebook [--threads N] [--data DIR] [--cases conv,step,epoch,infer,memory]
//                  [--device cpu|cuda]
//
//   conv    the notebook's convolution: one 3x860x1600 image, 3->3 channels, the 3x3 emboss
//           kernel on each channel, no padding; forward per algorithm and Auto, and the
//           backward (input and weight gradients) per algorithm
//   step    one training step of the notebook's CNN at batch 1000 (forward, NLL, backward,
//           Adam), on real MNIST images
//   epoch   one full training epoch on real MNIST, DataLoader (shuffle, batch assembly,
//           normalisation) included
//   infer   inference on all 10,000 test images, batch 1000
//   memory  peak resident memory of a whole training run (read the files, one epoch, score
//           the test set), in a fresh child process so nothing else counts
//
// Times are the median of repetitions after a warm-up (the epoch: one warm-up epoch, then the
// median of two). bench/compare_pytorch.sh runs bench/notebook_torch.py beside this and prints
// the table.
//
// --device cuda runs the same cases on the GPU (each timed repetition ends with
// cuda::synchronize, so a time covers the kernels, not just their launch). The data sets are
// uploaded once as bytes and batches gathered there (datasets/device_images.h). The conv case
// has no shiftgemm there; the step case also reports how many device allocations and host
// waits (cuda::host_waits) a warm step makes, both 0 when nothing on the hot path allocates
// or synchronises; the memory case reports the allocator's peak device bytes of one epoch.
// Configured with -DGLASSBOX_CUDNN=ON (real CUDA builds), the conv case also times cuDNN on
// the same tensors (conv_forward_cudnn, conv_forward_backward_cudnn): the yardstick.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/dataloader.h"
#include "datasets/device_images.h"
#include "datasets/mnist.h"
#include "glassbox.h"
#include "net.h"
#if defined(GLASSBOX_BENCH_CUDNN)
#include "cudnn_conv.h"
#endif

using namespace glassbox;
namespace F = glassbox::nn::functional;

namespace {

using Clock = std::chrono::steady_clock;

Device g_device = kCPU;  // --device

// Waits for the device's queued work, so a timing covers it.
void finish() {
  if (g_device.is_cuda()) cuda::synchronize(g_device.index);
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Median of repetitions filling about `budget_ms` (at least `min_reps`), after one warm-up.
double median_ms(const std::function<void()>& fn, double budget_ms = 1000, size_t min_reps = 5) {
  fn();
  std::vector<double> times;
  double total = 0;
  while ((total < budget_ms || times.size() < min_reps) && times.size() < 200) {
    const auto t0 = Clock::now();
    fn();
    finish();
    times.push_back(ms_since(t0));
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void report(const std::string& name, const std::string& fields) {
  std::cout << "{\"framework\":\"glassbox\",\"case\":\"" << name << "\",\"device\":\""
            << g_device.str() << "\",\"threads\":" << get_num_threads() << "," << fields << "}"
            << std::endl;
}
std::string ms_field(double ms) {
  std::ostringstream s;
  s << "\"ms\":" << ms;
  return s.str();
}

// ---------------------------------------------------------------- conv

void bench_conv() {
  NoGradGuard no_grad;
  manual_seed(0);
  Tensor x = rand({1, 3, 860, 1600}).to(g_device);
  const std::vector<float> emboss{-2, -1, 0, -1, 1, 1, 0, 1, 2};
  std::vector<float> w(3 * 3 * 9, 0.f);  // emboss from each channel to itself
  for (int c = 0; c < 3; ++c) std::copy(emboss.begin(), emboss.end(), w.begin() + (c * 3 + c) * 9);
  Tensor weight = from_vector(w, {3, 3, 3, 3}).to(g_device);
  const double flop = 2.0 * 858 * 1598 * 3 * 27;
  Tensor dy = rand({1, 3, 858, 1598}).to(g_device);
  std::vector<F::ConvAlgo> algos{F::ConvAlgo::Direct, F::ConvAlgo::Im2col, F::ConvAlgo::Flat,
                                 F::ConvAlgo::Auto};
  if (g_device.is_cpu()) algos.insert(algos.begin() + 1, F::ConvAlgo::ShiftGemm);
  for (F::ConvAlgo a : algos) {
    const F::ConvParams p = F::ConvParams().set_algo(a);
    std::string name = F::conv_algo_name(a);
    if (a == F::ConvAlgo::Auto)
      name += "_" + std::string(F::conv_algo_name(
                        F::conv_algo_for(x.shape(), weight.shape(), p, false, g_device)));
    const double fwd = median_ms([&] { Tensor y = F::conv2d(x, weight, Tensor(), p); });
    std::ostringstream f;
    f << ms_field(fwd) << ",\"gflop_per_s\":" << flop / (fwd * 1e6);
    report("conv_forward_" + name, f.str());
    if (a == F::ConvAlgo::Auto) continue;
    // backward: both gradients through the tape, as training computes them
    Tensor xg = x.detach().requires_grad_(), wg = weight.detach().requires_grad_();
    const double bwd = median_ms([&] {
      set_grad_enabled(true);
      Tensor y = F::conv2d(xg, wg, Tensor(), p);
      xg.zero_grad();
      wg.zero_grad();
      y.backward(dy);
      set_grad_enabled(false);
    });
    report("conv_forward_backward_" + name, ms_field(bwd));
  }
#if defined(GLASSBOX_BENCH_CUDNN)
  if (g_device.is_cuda()) {  // the yardstick: cuDNN on the same tensors and stream
    bench::CudnnConv cudnn(x, weight);
    const double fwd = median_ms([&] { cudnn.forward(); });
    const double diff = max(abs(cudnn.forward() - F::conv2d(x, weight))).item();
    std::ostringstream f;
    f << ms_field(fwd) << ",\"gflop_per_s\":" << flop / (fwd * 1e6)
      << ",\"max_abs_diff_vs_glassbox\":" << diff << ",\"cudnn_algorithms\":\""
      << cudnn.algorithms() << "\"";
    report("conv_forward_cudnn", f.str());
    const double bwd = median_ms([&] {
      cudnn.forward();
      cudnn.backward(dy);
    });
    report("conv_forward_backward_cudnn", ms_field(bwd));
  }
#endif
}

// ---------------------------------------------------------------- the CNN

struct Data {
  std::shared_ptr<datasets::MNIST> train, test;
  // on a GPU: the same sets held there, and what the DataLoaders walk
  std::shared_ptr<datasets::DeviceImages> train_on_device, test_on_device;

  std::shared_ptr<const datasets::Dataset> loader_set(bool test_set) const {
    const auto& dev = test_set ? test_on_device : train_on_device;
    if (dev) return dev->index_dataset();
    return test_set ? test : train;
  }
  // A loader batch as the network's input, on the device.
  datasets::Batch place(const datasets::Batch& b, bool test_set) const {
    const auto& dev = test_set ? test_on_device : train_on_device;
    return dev ? dev->batch(b.data) : b;
  }
};

Data load_mnist(const std::string& dir) {
  datasets::LocateOptions locate;
  locate.explicit_dir = dir;
  locate.candidates = datasets::default_candidates(datasets::mnist_info());
  locate.allow_download = false;
  const std::string root = datasets::locate_dataset(datasets::mnist_info(), locate);
  Data d{std::make_shared<datasets::MNIST>(root, datasets::Split::Train),
         std::make_shared<datasets::MNIST>(root, datasets::Split::Test), nullptr, nullptr};
  if (g_device.is_cuda()) {
    d.train_on_device = std::make_shared<datasets::DeviceImages>(*d.train, g_device);
    d.test_on_device = std::make_shared<datasets::DeviceImages>(*d.test, g_device);
  }
  return d;
}

void train_step(mnist::MnistNet& net, optim::Adam& opt, const datasets::Batch& batch) {
  Tensor loss = F::nll_loss(net(batch.data), batch.target);
  opt.zero_grad();
  loss.backward();
  opt.step();
}

// One epoch over the DataLoader; returns seconds.
double train_epoch(mnist::MnistNet& net, optim::Adam& opt, datasets::DataLoader& loader,
                   const Data& d) {
  const auto t0 = Clock::now();
  for (datasets::Batch& batch : loader) train_step(net, opt, d.place(batch, false));
  finish();
  return ms_since(t0) / 1000.0;
}

datasets::DataLoader train_loader(const Data& d) {
  return datasets::DataLoader(d.loader_set(false),
                              datasets::DataLoaderOptions().batch_size(1000).shuffle(true).seed(0));
}

// The network on the bench's device, seeded as every case seeds it.
mnist::MnistNet make_net() {
  manual_seed(0);
  mnist::MnistNet net;
  net->to(g_device);
  return net;
}

double infer_all(mnist::MnistNet& net, const Data& d, int64_t* correct_out = nullptr) {
  net->eval();
  NoGradGuard no_grad;
  datasets::DataLoader loader(d.loader_set(true), datasets::DataLoaderOptions().batch_size(1000));
  const auto t0 = Clock::now();
  int64_t correct = 0;
  for (datasets::Batch& loaded : loader) {
    const datasets::Batch batch = d.place(loaded, true);
    correct += static_cast<int64_t>(sum(argmax(net(batch.data), 1) == batch.target).item());
  }
  const double ms = ms_since(t0);
  net->train();
  if (correct_out) *correct_out = correct;
  return ms;
}

void bench_step(const Data& d) {
  mnist::MnistNet net = make_net();
  optim::Adam opt(net->parameters(), optim::AdamOptions(1e-3));
  std::vector<int64_t> first(1000);
  for (int64_t i = 0; i < 1000; ++i) first[i] = i;
  const datasets::Batch batch = d.place(d.loader_set(false)->get_batch(first), false);
  const double ms = median_ms([&] { train_step(net, opt, batch); }, 2000, 10);
  std::ostringstream f;
  f << ms_field(ms) << ",\"images_per_s\":" << 1000.0 / (ms * 1e-3);
  if (g_device.is_cuda()) {  // what ten warm steps cost beyond the kernels
    const int64_t waits = cuda::host_waits();
    const int64_t blocks = memory_stats(g_device).system_allocations;
    for (int i = 0; i < 10; ++i) train_step(net, opt, batch);
    f << ",\"host_waits_per_step\":" << (cuda::host_waits() - waits) / 10.0
      << ",\"device_allocations_per_step\":"
      << (memory_stats(g_device).system_allocations - blocks) / 10.0;
    finish();
  }
  report("train_step_b1000", f.str());
}

void bench_epoch(const Data& d) {
  mnist::MnistNet net = make_net();
  optim::Adam opt(net->parameters(), optim::AdamOptions(1e-3));
  datasets::DataLoader loader = train_loader(d);
  train_epoch(net, opt, loader, d);  // warm-up
  std::vector<double> s{train_epoch(net, opt, loader, d), train_epoch(net, opt, loader, d)};
  std::sort(s.begin(), s.end());
  std::ostringstream f;
  f << ms_field(s[0] * 1000) << ",\"seconds\":" << s[0];
  report("train_epoch_mnist", f.str());
}

void bench_infer(const Data& d) {
  mnist::MnistNet net = make_net();
  std::vector<double> times;
  for (int r = 0; r < 7; ++r) times.push_back(infer_all(net, d));
  std::sort(times.begin(), times.end());
  std::ostringstream f;
  f << ms_field(times[times.size() / 2])
    << ",\"images_per_s\":" << 10000.0 / (times[times.size() / 2] * 1e-3);
  report("inference_10k", f.str());
}

// This process's peak resident memory: VmHWM, the high-water mark of its own address space.
// (getrusage's ru_maxrss is not it: Linux carries the parent's peak across fork and exec.)
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return -1;
}

// The child: a whole training run in a fresh process (files, one epoch, test set), then
// prints its peak resident memory, and the allocator's peak bytes.
int training_run(const std::string& dir) {
  const Data d = load_mnist(dir);
  mnist::MnistNet net = make_net();
  optim::Adam opt(net->parameters(), optim::AdamOptions(1e-3));
  datasets::DataLoader loader = train_loader(d);
  // new blocks the allocator takes from the system after the first two steps (0: every
  // later step runs on recycled memory)
  int64_t steps = 0, system_after_two = 0;
  const auto t0 = Clock::now();
  for (datasets::Batch& batch : loader) {
    train_step(net, opt, d.place(batch, false));
    if (++steps == 2) system_after_two = memory_stats(g_device).system_allocations;
  }
  finish();
  const double seconds = ms_since(t0) / 1000.0;
  const int64_t new_blocks = memory_stats(g_device).system_allocations - system_after_two;
  int64_t correct = 0;
  infer_all(net, d, &correct);
  std::ostringstream f;
  f << "\"peak_rss_mb\":" << peak_rss_mb()
    << ",\"allocator_peak_mb\":" << memory_stats(g_device).peak_bytes / 1048576.0
    << ",\"new_blocks_after_step_2\":" << new_blocks << ",\"epoch_seconds\":" << seconds
    << ",\"test_accuracy\":" << correct / 10000.0;
  report("train_run_peak_memory", f.str());
  return 0;
}

void bench_memory(const char* self, const std::string& dir, int threads) {
  std::cout.flush();
  const std::string t = std::to_string(threads);
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string device = g_device.str();
    std::vector<const char*> argv{self,       "--child-training-run", "--threads", t.c_str(),
                                  "--device", device.c_str()};
    if (!dir.empty()) {
      argv.push_back("--data");
      argv.push_back(dir.c_str());
    }
    argv.push_back(nullptr);
    execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    std::cerr << "bench_notebook: the training-run child failed\n";
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::string data_dir, cases = "conv,step,epoch,infer,memory", device_name = "cpu";
  bool child = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--data" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (a == "--cases" && i + 1 < argc) {
      cases = argv[++i];
    } else if (a == "--device" && i + 1 < argc) {
      device_name = argv[++i];
    } else if (a == "--child-training-run") {
      child = true;
    } else {
      std::cerr << "usage: bench_notebook [--threads N] [--data DIR] "
                   "[--cases conv,step,epoch,infer,memory] [--device cpu|cuda]\n";
      return 2;
    }
  }
  try {
    set_num_threads(threads);
    g_device = usable_device(device_name, "--device");
    if (child) return training_run(data_dir);
    auto wants = [&](const char* c) {
      return ("," + cases + ",").find(std::string(",") + c + ",") != std::string::npos;
    };
    if (wants("conv")) bench_conv();
    if (wants("step") || wants("epoch") || wants("infer")) {
      const Data d = load_mnist(data_dir);
      if (wants("step")) bench_step(d);
      if (wants("epoch")) bench_epoch(d);
      if (wants("infer")) bench_infer(d);
    }
    if (wants("memory")) bench_memory(argv[0], data_dir, threads);
  } catch (const std::exception& e) {
    std::cerr << "bench_notebook: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
