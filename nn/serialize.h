// Model weights on disk: safetensors files with PyTorch's state_dict names and layouts (OIHW
// conv weights, [out,in] linear weights, 1-D biases, batch-norm running stats), so files move
// both ways between glassbox and PyTorch (scripts/torch_to_safetensors.py and
// scripts/safetensors_to_torch.py convert to and from torch.save files).
//
//   nn::save(*net, "net.safetensors");
//   nn::load(*net, "net.safetensors");             // strict: any mismatch is one clear error
//   auto report = nn::load(*net, path, false);     // lenient: loads what matches, reports the rest
#pragma once

#include <string>

#include "core/safetensors.h"
#include "nn/module.h"

namespace glassbox::nn {

// Writes module.state_dict() (CPU copies) with save_safetensors: atomically, with CRC-32s of
// the data and of the header in the metadata. `metadata` is stored too, plus {"format": "pt"} (what
// PyTorch's safetensors.torch writes) unless it has a "format" of its own.
void save(const Module& module, const std::string& path, const Metadata& metadata = {});

// Reads `path` and loads it with load_state_dict(state, strict): strict throws one Error
// listing every missing key, unexpected key and shape/dtype mismatch (and changes nothing);
// non-strict loads the entries that match and returns what did not. A file that cannot be
// read, is not a regular file, is malformed, exceeds a limit of load_safetensors or fails a
// CRC is an Error naming it, and the module is left as it was.
// dtypes must match exactly: convert the module (module.to(kFloat64)) to load other weights.
LoadReport load(Module& module, const std::string& path, bool strict = true);

}  // namespace glassbox::nn
