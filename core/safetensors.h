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

// Integrity: every file written here records the CRC-32 (zlib's) of its data section, the bytes
// after the JSON header, in the metadata as "glassbox.crc32": 8 lower-case hex digits. Reading
// a file that has the key checks it, and a mismatch is an Error saying the data is damaged
// (with both values), so damaged weights are never returned; a value that is not 8 hex digits
// is an Error too. Files without the key (PyTorch's safetensors writes none) load unchecked.
// The key is the library's own: the metadata handed back by parsing never holds it (so a
// load-then-save round trip does not carry a stale checksum), and a caller's value for it in
// `meta` is replaced by the real checksum when writing. The header itself is covered by the
// structural checks, not by the CRC.

// Serialises to bytes / parses bytes. `source` names the data in error messages.
std::vector<uint8_t> safetensors_serialize(const TensorMap& tensors, const Metadata& meta = {});
TensorMap safetensors_parse(const uint8_t* data, size_t size, Metadata* meta = nullptr,
                            const std::string& source = "<memory>");

// Writes atomically: a temporary file "<path>.tmp.<pid>.<n>" in the same folder, written,
// fsynced, renamed over `path`, then the folder fsynced, so a crash or a kill at any point
// leaves either the old file or the new one, never a torn one. A killed save leaves its
// temporary behind; the next save to the same path removes it. (Each save holds an flock on
// its temporary until the rename; the kernel releases it when the process dies, so a
// temporary nobody holds belongs to a dead save. Live saves, from any process, are never
// touched; where flock is unsupported nothing is removed.)
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta = {});
TensorMap load_safetensors(const std::string& path, Metadata* meta = nullptr);

}  // namespace glassbox
