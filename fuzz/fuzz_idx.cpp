// Fuzz target: the IDX reader, glassbox::datasets::read_idx, on the input bytes as a file.
//
// read_idx tells gzip from raw by the magic bytes, so an input that starts with 1F 8B is read
// as gzip (the seeds hold gzip files, forged trailers among them) and any other as raw. A raw
// input is then also compressed (one gzip member, zlib's default level) and read again: the
// two reads must agree -- the same tensor, or both an Error -- since the gzip path checks the
// same header against the size in the trailer that the raw path checks against the file size.
// A disagreement is a finding (fuzz_util.h), as is anything but glassbox::Error escaping.
#include <zlib.h>

#include <cstring>
#include <optional>
#include <vector>

#include "core/error.h"
#include "datasets/idx.h"
#include "fuzz/fuzz_util.h"

namespace {

using glassbox::Tensor;

std::optional<Tensor> read_or_refuse(const std::string& path) {
  try {
    return glassbox::datasets::read_idx(path);
  } catch (const glassbox::Error& e) {
    glassbox::fuzz::refused(e);
    return std::nullopt;  // refused with a message: the expected outcome for bad input
  }
}

// One gzip member holding `data`: deflateInit2 with windowBits 15 + 16 writes the gzip
// header and trailer itself.
std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    glassbox::fuzz::finding("deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&z, size) + 32);
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) glassbox::fuzz::finding("deflate did not finish in deflateBound");
  return out;
}

bool same(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.nbytes() == 0) return true;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const glassbox::fuzz::ScratchFile file(".idx"), gz_file(".idx.gz");
  const std::optional<Tensor> raw = read_or_refuse(file.write(data, size));
  if (size >= 2 && data[0] == 0x1F && data[1] == 0x8B) return 0;  // it was gzip already

  const std::vector<uint8_t> packed = gzip(data, size);
  const std::optional<Tensor> unpacked =
      read_or_refuse(gz_file.write(packed.data(), packed.size()));
  if (raw.has_value() != unpacked.has_value())
    glassbox::fuzz::finding(raw ? "read_idx reads the raw file but refuses it gzipped"
                                : "read_idx refuses the raw file but reads it gzipped");
  if (raw && !same(*raw, *unpacked))
    glassbox::fuzz::finding("read_idx reads the raw and the gzipped file differently");
  return 0;
}
