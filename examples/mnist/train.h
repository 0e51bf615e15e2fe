// The notebook's training loop: Adam on NLL loss over shuffled batches; every few steps one
// test batch is scored and (seconds, step, loss, accuracy) goes to the metrics log; at the end
// the whole test set is scored. Shared by the mnist program and the tests.
//
// A checkpoint is untrusted input: a file written by a buggy program can carry a valid
// checksum and still hold nonsense. Every value train() reads back (the extra.* keys, the
// epoch and step) is checked against a stated range, with a message naming the checkpoint,
// the key and the range, before anything is trained.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "net.h"

namespace glassbox::mnist {

// The limits the mnist program and train() enforce (the README quotes them).
constexpr int64_t kMaxEpochs = 100000;
constexpr int64_t kMaxBatch = 65536;
constexpr double kMaxLr = 10;  // Adam beyond this only diverges

struct TrainOptions {
  int64_t epochs = 5;
  int64_t batch_size = 1000;
  double lr = 1e-3;  // finite, in (0, kMaxLr]
  // When resuming: false keeps the checkpoint's learning rate, true replaces it with `lr`.
  bool override_lr = false;
  uint64_t seed = 0;         // initial weights, dropout and the data order
  int64_t score_every = 10;  // steps between test-batch scores
  std::string metrics_path;  // CSV "seconds,step,loss,accuracy"; empty: no file
  Device device = kCPU;
  std::ostream* log = nullptr;  // progress and epoch summaries; null: silent
  bool interactive = false;     // draw a live progress bar (a terminal) or write plain lines
  // A training checkpoint (model, Adam state, epoch, step, generator state, data order) is
  // written here after every epoch; empty: none.
  std::string checkpoint_path;
  // Continue the run saved in this checkpoint: its weights, optimizer state, data order and
  // random stream replace this run's, and training goes on from the epoch after the saved one
  // up to `epochs`. On the CPU the result is bit-identical to a run that never stopped.
  std::string resume_path;
};

struct TrainResult {
  std::vector<double> epoch_seconds;  // wall time of each epoch, test-batch scoring included
  std::vector<double> epoch_loss;     // mean training loss of each epoch
  double test_accuracy = 0;           // on the whole test set, after the last epoch
  int64_t steps = 0;                  // optimizer steps in total, those before a resume included
  int64_t first_epoch = 1;            // 1, or the epoch a resumed run started with
  double lr = 0;                      // the learning rate the optimizer really used
};

// What a training checkpoint says about the run that wrote it, every value range-checked.
struct ResumeInfo {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // optimizer steps completed
  double lr = 0;      // the optimizer's learning rate
  int64_t batch_size = 0, train_examples = 0, test_batch_next = 0;
  double elapsed_seconds = 0;
};

// Checks, without any data, that `path` is a checkpoint train() can resume: a training
// checkpoint (a weights-only file from --export / nn::save is refused with words saying so),
// of this network and Adam, with every extra.* value the loop wrote, each in its range.
// Throws Error naming the file (and the key). Leaves the default generator as it was.
ResumeInfo check_resume(const std::string& path);

// Trains `net` (whose weights the caller initialised, e.g. after manual_seed) in place. The
// data order comes from options.seed (or the checkpoint's when resuming).
TrainResult train(MnistNet& net, std::shared_ptr<const datasets::Dataset> train_set,
                  std::shared_ptr<const datasets::Dataset> test_set, const TrainOptions& options);

// Fraction of `data` classified correctly, in eval mode without the tape.
double evaluate(MnistNet& net, std::shared_ptr<const datasets::Dataset> data, int64_t batch_size,
                Device device = kCPU);

}  // namespace glassbox::mnist
