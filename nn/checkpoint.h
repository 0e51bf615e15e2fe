// Training checkpoints: model weights, optimizer state (per-parameter buffers, step counts,
// lr and hyper-parameters), and where the run stands (epoch, step, the default generator's
// state, the data order), in one safetensors file written atomically with CRC-32s of its data
// and of its header.
// Resuming from one continues a CPU run bit-identically to one that never stopped.
//
//   save_checkpoint("run.ckpt", *net, optimizer, state);
//   TrainingState state = load_checkpoint("run.ckpt", *net, optimizer);
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/generator.h"
#include "core/safetensors.h"
#include "nn/module.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"

namespace glassbox {

// Where a training run stands, besides its weights and optimizer state.
struct TrainingState {
  int64_t epoch = 0;       // epochs completed, in [0, 2^53]
  int64_t step = 0;        // optimizer steps completed, in [0, 2^53]
  Generator::State rng{};  // the default generator (dropout masks), as state() returned it
  uint64_t data_seed = 0;  // the DataLoader's seed: with `epoch` it fixes the next epoch's order
  std::map<std::string, std::string> extra;  // anything else the program wants back
};

// Tensors are stored as "model.<name>" (module.state_dict(), CPU copies) and
// "optimizer.<index>.<key>" (Optimizer::state_dict_tensors()); everything else in the
// metadata, as exact text: "glassbox.checkpoint" = "1", "epoch", "step", "data_seed"
// (decimal), "rng.seed" and "rng.offset" (decimal: the counter-based generator's whole state),
// "extra.<key>" per extra entry, and the optimizer's metadata (see optimizer_state_tensors). The
// optimizer's type must match on load ("Adam" state does not load into SGD); its settings (lr,
// betas, ...) come back too. A setting that is not finite is refused before anything is
// written. (An epoch or step outside [0, 2^53] is written as it is, and refused on load.)
//
// Parameter groups: a one-group optimizer writes exactly the keys above (so older checkpoints
// load); with more groups, "optimizer.<setting>" is the first group's, and the file adds
// "optimizer.num_groups" and, per later group g, "optimizer.group.<g>.num_params" and
// "optimizer.group.<g>.<setting>". On load the group count and sizes must match.
//
// With a `scheduler` (which must drive `optimizer`) its state is saved too:
// "scheduler.type" (its name()) and "scheduler.<key>" per state_dict() entry.
void save_checkpoint(const std::string& path, const nn::Module& model,
                     const optim::Optimizer& optimizer, const TrainingState& state,
                     const optim::SchedulerBase* scheduler = nullptr);
// Loads strictly into `model` and `optimizer` and returns the training state. Everything is
// checked before anything changes: the file (see load_safetensors: the header CRC written with
// every checkpoint catches a hand-edited epoch, step or setting), the metadata (each field must
// be exact decimal text in its range, or the error names the file, the key, the range and the
// value, cut to 100 characters: epoch and step in [0, 2^53], so a caller's epoch + 1 cannot
// overflow; data_seed, rng.seed and rng.offset in [0, 2^64 - 1]; settings finite numbers, then
// checked by the optimizer), the model (one error lists every missing and unexpected name and every
// shape that differs) and the optimizer (type, parameter count, settings, per-parameter state); on
// error neither is changed. A file without "glassbox.checkpoint" (plain weights) is refused
// with a pointer to nn::load; a checkpoint with the xoshiro256** state earlier builds wrote
// ("rng.s0".."rng.s3") is refused too: it predates the counter-based generator, and its
// dropout stream cannot be continued. Metadata keys outside the ones above are ignored. Does not
// touch the default generator: the caller restores it with
// default_generator().set_state(state.rng) when it resumes.
//
// With a `scheduler`, the checkpoint must hold state for a scheduler of the same name(), and
// it is checked with everything else and restored last (all or nothing): build the
// optimizer and the scheduler as the first run did, then load, and step on. Without one, a
// checkpoint that holds scheduler state is refused (the schedule would silently restart).
TrainingState load_checkpoint(const std::string& path, nn::Module& model,
                              optim::Optimizer& optimizer,
                              optim::SchedulerBase* scheduler = nullptr);

// The optimizer alone: its state and settings, as named tensors plus metadata, and files.
// optimizer_state_tensors returns the state as "<index>.<key>" CPU tensors and, when
// `metadata` is not null, adds "optimizer.type" (name()), "optimizer.num_params" and
// "optimizer.<setting>" for every entry of settings() (shortest text that reads back to the
// same double). load_optimizer_state checks type and parameter count ("the checkpoint holds
// Adam state, the optimizer is SGD"), then settings and state together; on error nothing
// changes. Metadata keys that do not start with "optimizer." are ignored.
TensorMap optimizer_state_tensors(const optim::Optimizer& optimizer, Metadata* metadata);
void load_optimizer_state(optim::Optimizer& optimizer, const TensorMap& tensors,
                          const Metadata& metadata);
void save_optimizer(const optim::Optimizer& optimizer, const std::string& path);
void load_optimizer(optim::Optimizer& optimizer, const std::string& path);

}  // namespace glassbox
