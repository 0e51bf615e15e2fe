// Fuzz target: the safetensors parser, glassbox::safetensors_parse, on the input bytes.
//
// The bytes are the whole file: the 8-byte header length, the JSON header, the data. Bad input
// must end in glassbox::Error (fuzz_util.h has the contract). An input that parses must also
// survive a round trip: serialising what came back and parsing that gives the same names,
// dtypes, shapes, bytes and metadata, so the reader never accepts what the writer would store
// differently (a violation aborts, and libFuzzer keeps the input).
#include <cstring>

#include "core/error.h"
#include "core/safetensors.h"
#include "fuzz/fuzz_util.h"

namespace {

using glassbox::Metadata;
using glassbox::Tensor;
using glassbox::TensorMap;

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.nbytes() == 0) return true;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

void check_round_trip(const TensorMap& tensors, const Metadata& meta) {
  std::vector<uint8_t> bytes;
  try {
    bytes = glassbox::safetensors_serialize(tensors, meta);
  } catch (const glassbox::Error& e) {
    glassbox::fuzz::finding(std::string("parsed, but serialising it again fails: ") + e.what());
  }
  Metadata meta2;
  const TensorMap again =
      glassbox::safetensors_parse(bytes.data(), bytes.size(), &meta2, "<round trip>");
  if (meta2 != meta) glassbox::fuzz::finding("round trip changed the metadata");
  if (again.size() != tensors.size()) glassbox::fuzz::finding("round trip changed the tensors");
  for (const auto& [name, t] : tensors) {
    auto it = again.find(name);
    if (it == again.end() || !same_bytes(t, it->second))
      glassbox::fuzz::finding("round trip changed tensor '" + name.substr(0, 100) + "'");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Metadata meta;
  TensorMap tensors;
  try {
    tensors = glassbox::safetensors_parse(data, size, &meta, "<fuzz input>");
  } catch (const glassbox::Error& e) {
    glassbox::fuzz::refused(e);
    return 0;  // refused with a message: the expected outcome for bad input
  }
  check_round_trip(tensors, meta);
  return 0;
}
