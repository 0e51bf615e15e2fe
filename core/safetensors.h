#pragma once
// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//   "__metadata__": {"key": "value"}}), then the raw little-endian tensor bytes.
// Files from PyTorch's safetensors load here and ours load there. Parsing validates
// everything before reading: a malformed file is an Error, never an out-of-bounds read.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace glassbox {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Serialises to bytes / parses bytes. `source` names the data in error messages.
std::vector<uint8_t> safetensors_serialize(const TensorMap& tensors, const Metadata& meta = {});
TensorMap safetensors_parse(const uint8_t* data, size_t size, Metadata* meta = nullptr,
                            const std::string& source = "<memory>");

// Writes atomically: a temporary file in the same folder, flushed and fsynced, then renamed
// over `path`, so a crash leaves either the old file or the new one, never a torn one.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta = {});
TensorMap load_safetensors(const std::string& path, Metadata* meta = nullptr);

}  // namespace glassbox
