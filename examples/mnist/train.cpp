// The training loop of train.h, and the checks of a checkpoint before resuming from it.
#include "train.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <ostream>
#include <sstream>

#include "datasets/dataloader.h"
#include "datasets/device_images.h"
#include "cli.h"
#include "nn/checkpoint.h"
#include "metrics.h"
#include "progress.h"

namespace glassbox::mnist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Correct predictions in one batch of log-probabilities.
// Counted where the batch is (one number comes back from a device).
int64_t count_correct(const Tensor& log_probs, const Tensor& target) {
  return static_cast<int64_t>(sum(argmax(log_probs, 1) == target).item());
}

// Where batches come from. On a CUDA device an MNIST-style data set is uploaded once and
// batches are gathered and normalised there (datasets/device_images.h): the DataLoader then
// walks the examples' indices in the order it would walk the images. Any other data set, or
// the CPU, uses the data set's own batches, moved to the device.
class BatchSource {
 public:
  BatchSource(std::shared_ptr<const datasets::Dataset> data, Device device)
      : data_(std::move(data)), device_(device) {
    auto images = std::dynamic_pointer_cast<const datasets::MNIST>(data_);
    if (device.is_cuda() && images) on_device_.emplace(*images, device);
  }
  // What the DataLoader iterates over.
  std::shared_ptr<const datasets::Dataset> loader_set() const {
    return on_device_ ? on_device_->index_dataset() : data_;
  }
  // A batch of loader_set() as data and target on the device.
  datasets::Batch place(const datasets::Batch& b) const {
    if (on_device_) return on_device_->batch(b.data);
    return {b.data.to(device_), b.target.to(device_)};
  }
  datasets::Batch get(const std::vector<int64_t>& indices) const {
    return place(loader_set()->get_batch(indices));
  }
  int64_t size() const { return data_->size(); }

 private:
  std::shared_ptr<const datasets::Dataset> data_;
  Device device_;
  std::optional<datasets::DeviceImages> on_device_;
};

// Scores batches of a data set in order, one at a time, wrapping around: the notebook's
// "accuracy on a test batch" every few steps, without always reusing the same batch.
class TestBatches {
 public:
  TestBatches(std::shared_ptr<const datasets::Dataset> data, int64_t batch_size, Device device)
      : data_(std::move(data), device), batch_size_(std::min(batch_size, data_.size())) {}

  int64_t next() const { return next_; }
  void set_next(int64_t next) { next_ = next % data_.size(); }

  double score(MnistNet& net) {
    std::vector<int64_t> indices;
    for (int64_t i = 0; i < batch_size_; ++i) indices.push_back((next_ + i) % data_.size());
    next_ = (next_ + batch_size_) % data_.size();
    datasets::Batch batch = data_.get(indices);
    net->eval();
    NoGradGuard no_grad;
    const int64_t correct = count_correct(net(batch.data), batch.target);
    net->train();
    return double(correct) / double(batch_size_);
  }

 private:
  BatchSource data_;
  int64_t batch_size_, next_ = 0;
};

// The most a checkpoint may claim (anything bigger is a damaged or foreign file): counts of
// examples and steps far beyond any real run, and a century of wall time.
constexpr int64_t kMaxCount = int64_t(1) << 40;
constexpr double kMaxSeconds = 100.0 * 365 * 24 * 3600;

// One extra.* value of `state`, which must be there; the loop wrote it with std::to_string.
const std::string& extra_text(const std::string& path, const TrainingState& state,
                              const std::string& key) {
  auto it = state.extra.find(key);
  GB_CHECK(it != state.extra.end(), "--resume ", cli::quoted(path),
           " was not written by the mnist training loop (it has no 'extra.", key,
           "'); resume only from a file that mnist --save wrote");
  return it->second;
}

// The strict flag parsers, but a bad value is the file's fault (exit 1), not the user's.
template <class F>
auto checked_value(const std::string& path, const std::string& key, F parse) {
  try {
    return parse(str("--resume ", cli::quoted(path), ": the value of '", key, "'"));
  } catch (const cli::UsageError& e) {
    fail(str(e.what(), " (the checkpoint is damaged or was not written by mnist --save)"));
  }
}

int64_t extra_int(const std::string& path, const TrainingState& state, const std::string& key,
                  int64_t min, int64_t max) {
  const std::string& text = extra_text(path, state, key);
  return checked_value(path, "extra." + key, [&](const std::string& what) {
    return cli::parse_int(what, text, min, max);
  });
}

ResumeInfo resume_info(const std::string& path, const TrainingState& state, double lr) {
  ResumeInfo info;
  // The library parses epoch and step; their range is ours (epoch + 1 must not overflow).
  auto in_range = [&](const char* key, int64_t v, int64_t max) {
    GB_CHECK(v >= 0 && v <= max, "--resume ", cli::quoted(path), ": '", key,
             "' must be a whole number from 0 to ", max, ", got ", v,
             " (the checkpoint is damaged or was not written by mnist --save)");
    return v;
  };
  info.epoch = in_range("epoch", state.epoch, kMaxEpochs);
  info.step = in_range("step", state.step, kMaxCount);
  info.lr = lr;
  info.batch_size = extra_int(path, state, "batch_size", 1, kMaxBatch);
  info.train_examples = extra_int(path, state, "train_examples", 1, kMaxCount);
  info.test_batch_next = extra_int(path, state, "test_batch_next", 0, kMaxCount);
  const std::string& seconds = extra_text(path, state, "elapsed_seconds");
  info.elapsed_seconds = checked_value(path, "extra.elapsed_seconds", [&](const std::string& w) {
    return cli::parse_real(w, seconds, 0, kMaxSeconds);
  });
  return info;
}

}  // namespace

ResumeInfo check_resume(const std::string& path) {
  Metadata meta;
  (void)load_safetensors(path, &meta);
  GB_CHECK(meta.count("glassbox.checkpoint") > 0, "--resume ", cli::quoted(path),
           " holds weights only (as written by mnist --export or nn::save), not a training "
           "checkpoint: training resumes only from a file written by mnist --save. predict can "
           "classify images with these weights");
  // A scratch network and optimizer take the full load, so a checkpoint of another model
  // fails here, before the data is read. Building the network draws initial weights from
  // the default generator: put its state back.
  struct KeepGenerator {
    Generator::State saved = default_generator().state();
    ~KeepGenerator() { default_generator().set_state(saved); }
  } keep;
  MnistNet scratch;
  optim::Adam optimizer(scratch->parameters(), optim::AdamOptions());
  const TrainingState state = load_checkpoint(path, *scratch, optimizer);
  return resume_info(path, state, optimizer.lr());
}

double evaluate(MnistNet& net, std::shared_ptr<const datasets::Dataset> data, int64_t batch_size,
                Device device) {
  GB_CHECK(data->size() > 0, "evaluate: the data set is empty");
  const bool was_training = net->is_training();
  net->eval();
  NoGradGuard no_grad;
  const BatchSource source(data, device);
  datasets::DataLoader loader(source.loader_set(),
                              datasets::DataLoaderOptions().batch_size(batch_size));
  int64_t correct = 0;
  for (datasets::Batch& batch : loader) {
    const datasets::Batch b = source.place(batch);
    correct += count_correct(net(b.data), b.target);
  }
  net->train(was_training);
  return double(correct) / double(data->size());
}

TrainResult train(MnistNet& net, std::shared_ptr<const datasets::Dataset> train_set,
                  std::shared_ptr<const datasets::Dataset> test_set, const TrainOptions& options) {
  GB_CHECK(options.epochs >= 0, "train: epochs must be >= 0, got ", options.epochs);
  GB_CHECK(options.score_every > 0, "train: score_every must be positive, got ",
           options.score_every);
  GB_CHECK(std::isfinite(options.lr) && options.lr > 0 && options.lr <= kMaxLr,
           "train: lr must be a finite number in (0, ", kMaxLr, "], got ", options.lr);
  optim::Adam optimizer(net->parameters(), optim::AdamOptions(options.lr));
  TestBatches test_batches(test_set, options.batch_size, options.device);
  const BatchSource train_source(train_set, options.device);
  TrainResult result;
  uint64_t data_seed = options.seed;
  double elapsed_before = 0;  // seconds spent before the checkpoint we resume from
  if (!options.resume_path.empty()) {
    const std::string& path = options.resume_path;
    const TrainingState state = load_checkpoint(path, *net, optimizer);
    const ResumeInfo info = resume_info(path, state, optimizer.lr());
    // The data order only replays with the same data set size and batch size.
    GB_CHECK(info.batch_size == options.batch_size && info.train_examples == train_set->size(),
             "train: ", path, " was trained with batch ", info.batch_size, " on ",
             info.train_examples, " examples; this run has batch ", options.batch_size, " and ",
             train_set->size(), " examples");
    GB_CHECK(info.test_batch_next < test_set->size(), "--resume ", cli::quoted(path),
             ": 'extra.test_batch_next' must be below the ", test_set->size(),
             " test examples, got ", info.test_batch_next);
    default_generator().set_state(state.rng);  // the same dropout masks as an unbroken run
    data_seed = state.data_seed;
    result.steps = info.step;
    result.first_epoch = info.epoch + 1;
    test_batches.set_next(info.test_batch_next);
    elapsed_before = info.elapsed_seconds;
    if (options.override_lr) optimizer.set_lr(options.lr);
  }
  result.lr = optimizer.lr();
  datasets::DataLoader loader(
      train_source.loader_set(),
      datasets::DataLoaderOptions().batch_size(options.batch_size).shuffle(true).seed(data_seed));
  loader.set_epoch(result.first_epoch - 1);  // the order the interrupted run would have used
  GB_CHECK(loader.size() > 0, "train: no batches (", train_set->size(), " examples)");
  std::optional<MetricsWriter> metrics;
  if (!options.metrics_path.empty())
    metrics.emplace(options.metrics_path, /*append=*/!options.resume_path.empty());
  std::ostringstream sink;  // progress goes nowhere when there is no log
  std::ostream& out = options.log ? *options.log : sink;
  Progress progress(std::max<int64_t>(options.epochs, 1), loader.size(), out, options.interactive);

  net->train();
  const Clock::time_point start = Clock::now();
  auto elapsed = [&] { return elapsed_before + seconds_since(start); };
  for (int64_t epoch = result.first_epoch; epoch <= options.epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    double loss_sum = 0;
    int64_t step = 0;
    for (datasets::Batch& loaded : loader) {
      const datasets::Batch batch = train_source.place(loaded);
      Tensor loss = F::nll_loss(net(batch.data), batch.target);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      const double loss_value = loss.item();
      loss_sum += loss_value;
      ++step;
      ++result.steps;
      if (result.steps % options.score_every == 0) {
        const double accuracy = test_batches.score(net);
        if (metrics) metrics->write({elapsed(), result.steps, loss_value, accuracy});
      }
      progress.update(epoch, step, loss_value, batch.data.size(0), elapsed());
    }
    result.epoch_seconds.push_back(seconds_since(epoch_start));
    result.epoch_loss.push_back(loss_sum / double(step));
    std::ostringstream line;
    line.precision(4);
    line << "epoch " << epoch << "/" << options.epochs << ": mean loss " << result.epoch_loss.back()
         << ", " << result.epoch_seconds.back() << " s";
    progress.log(line.str());
    if (!options.checkpoint_path.empty()) {
      TrainingState state;
      state.epoch = epoch;
      state.step = result.steps;
      state.rng = default_generator().state();
      state.data_seed = data_seed;
      state.extra["test_batch_next"] = std::to_string(test_batches.next());
      state.extra["batch_size"] = std::to_string(options.batch_size);
      state.extra["train_examples"] = std::to_string(train_set->size());
      state.extra["elapsed_seconds"] = std::to_string(elapsed());
      save_checkpoint(options.checkpoint_path, *net, optimizer, state);
    }
  }
  if (metrics) metrics->close();
  result.test_accuracy = evaluate(net, test_set, options.batch_size, options.device);
  return result;
}

}  // namespace glassbox::mnist
