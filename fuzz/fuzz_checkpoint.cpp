// Fuzz target: the file readers for weights and checkpoints. The input bytes are written to a
// scratch file (fuzz_util.h), then read four ways:
//   load_safetensors(path)                    the file loader under all of them
//   load_checkpoint(path, model, Adam)        metadata, model and optimizer state together
//   nn::load(model, path) strict and lenient  plain weights
// into a small fixed model, Sequential(Conv2d(1, 2, 3), Flatten, Linear(8, 3)), so that inputs
// near a real checkpoint of it (the seeds) reach the matching and loading code, not only the
// parser. Bad input must end in glassbox::Error. Besides not crashing, the loaders promise
// that a refused file changes nothing (checkpoint.h, serialize.h): after an Error the weights
// and the optimizer's settings and state are compared with a snapshot taken before, and any
// difference is a finding.
#include <cstring>
#include <map>
#include <vector>

#include "core/error.h"
#include "core/generator.h"
#include "core/safetensors.h"
#include "fuzz/fuzz_util.h"
#include "nn/checkpoint.h"
#include "nn/nn.h"
#include "nn/serialize.h"
#include "optim/optim.h"

namespace {

using namespace glassbox;

nn::Sequential make_model() {
  manual_seed(0);  // the same weights for every input: runs are reproducible
  return nn::Sequential(nn::Conv2d(1, 2, 3), nn::Flatten(), nn::Linear(8, 3));
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.nbytes() == 0) return true;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

bool same_maps(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || !same_bytes(t, it->second)) return false;
  }
  return true;
}

// What a refused load must leave as it was: copies, since the live tensors are the ones that
// a faulty loader would overwrite.
struct Snapshot {
  std::map<std::string, Tensor> weights, state;
  optim::Optimizer::Settings settings;
  Snapshot(const nn::Module& model, const optim::Optimizer* opt) {
    for (const auto& [name, t] : model.state_dict()) weights[name] = t.clone();
    if (opt) {
      for (const auto& [name, t] : opt->state_dict_tensors()) state[name] = t.clone();
      settings = opt->settings();
    }
  }
  void check(const nn::Module& model, const optim::Optimizer* opt, const char* loader) const {
    const Snapshot now(model, opt);
    if (!same_maps(now.weights, weights) || !same_maps(now.state, state) ||
        now.settings != settings)
      fuzz::finding(std::string(loader) + " refused the file but changed the model or optimizer");
  }
};

void load_as_checkpoint(const std::string& path) {
  nn::Sequential model = make_model();
  optim::Adam adam(model->parameters());
  const Snapshot before(*model, &adam);
  try {
    (void)load_checkpoint(path, *model, adam);
  } catch (const Error& e) {
    fuzz::refused(e);
    before.check(*model, &adam, "load_checkpoint");
  }
}

void load_as_weights(const std::string& path, bool strict) {
  nn::Sequential model = make_model();
  const Snapshot before(*model, nullptr);
  try {
    (void)nn::load(*model, path, strict);
  } catch (const Error& e) {
    fuzz::refused(e);
    before.check(*model, nullptr, strict ? "nn::load (strict)" : "nn::load (lenient)");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fuzz::ScratchFile file(".safetensors");
  const std::string& path = file.write(data, size);
  try {
    Metadata meta;
    (void)load_safetensors(path, &meta);
  } catch (const Error& e) {
    // the file loader refused it: the loaders above it must refuse it too, and cleanly
    fuzz::refused(e);
  }
  load_as_checkpoint(path);
  load_as_weights(path, true);
  load_as_weights(path, false);
  return 0;
}
