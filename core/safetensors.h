#pragma once
// The safetensors format: 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//   "__metadata__": {"key": "value"}}), then the raw little-endian tensor bytes.
// Files from PyTorch's safetensors load here and ours load there. Parsing validates
// everything before reading: a malformed file is an Error, never an out-of-bounds read.
//
// Untrusted input: a file from anywhere must end in a result or an Error, never in a crash, a
// hang or an allocation it does not justify. The limits, checked in this order:
//  - the file must be a regular file (a directory, FIFO or device is refused at once: none has
//    a size to check against, and /dev/zero would read forever);
//  - the header length must fit in the file and be at most 100 MiB (104857600 bytes, the
//    format's own limit), checked from the first 8 bytes before anything else is read;
//  - the JSON may nest at most 16 levels (a header needs 3: the object, an entry, its shape),
//    enforced while parsing, so a deeply nested value is never built (nor walked recursively);
//  - a tensor has at most 64 dimensions, and every entry must lie inside the data section,
//    which the tensors must cover exactly (no gaps, no overlaps, no trailing bytes).
// So the reader allocates at most the header plus the tensors, and the tensors no more than the
// file holds. Messages name the file and never echo an untrusted value whole: names and values
// are cut to 100 characters, JSON structures are described by their type and length.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace glassbox {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Integrity: every file written here carries two CRC-32s (zlib's), in the metadata, each as 8
// lower-case hex digits:
//  - "glassbox.crc32": of the data section, the bytes after the JSON header;
//  - "glassbox.header_crc32": of the header's canonical text, which is nlohmann::json's compact
//    dump() of the parsed header object with this one key removed from "__metadata__" (keys
//    sorted byte-wise, no spaces, non-ASCII kept as UTF-8; the padding after the JSON is not
//    part of it). It is what Python writes with json.dumps(header, sort_keys=True,
//    separators=(",", ":"), ensure_ascii=False) for the strings and integers a header holds.
//    It covers every name, dtype, shape, offset and metadata value, including "glassbox.crc32".
// Reading a file that has a key checks it: a header that does not match is an Error saying the
// header was changed after it was written, data that does not match is an Error saying the data
// is damaged (with both values), so damaged weights or edited metadata are never returned; a
// value that is not 8 hex digits (either case) is an Error too. The header is checked first,
// before its structure. Files without the keys (PyTorch's safetensors writes none) load
// unchecked. A CRC detects accidents (disk, copy, transfer, a hand edit); it is no signature
// against someone who means harm and recomputes it. The keys are the library's own: the
// metadata handed back by parsing never holds them (so a load-then-save round trip does not
// carry stale checksums), and a caller's values for them in `meta` are replaced when writing.

// Serialises to bytes / parses bytes. `source` names the data in error messages.
std::vector<uint8_t> safetensors_serialize(const TensorMap& tensors, const Metadata& meta = {});
TensorMap safetensors_parse(const uint8_t* data, size_t size, Metadata* meta = nullptr,
                            const std::string& source = "<memory>");

// Writes atomically through AtomicFile (core/atomic_file.h): a crash or a kill at any point
// leaves either the old file or the new one, never a torn one; concurrent saves to one path
// (threads or processes) each write their own temporary, and the last rename wins whole. A
// failed save removes its temporary and names the target it could not write, e.g.
// "save_safetensors: cannot write run.ckpt: No space left on device (while writing the
// temporary run.ckpt.tmp.12.0; nothing was replaced)". A killed save's temporary is removed by
// the next save to the same path.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta = {});
// Reads `path` without trusting it: opens it without blocking (a FIFO cannot hang the open),
// refuses anything that is not a regular file, reads the 8-byte length and then exactly the
// header, validates the header against the file's size, and reads the data section straight
// into the tensors' storage (no second copy of the file), computing the CRC as it goes. A file
// that shrinks or grows while it is read is an Error naming it; on any error nothing is
// returned and `meta` is left as it was.
TensorMap load_safetensors(const std::string& path, Metadata* meta = nullptr);

}  // namespace glassbox
