// MD5 (RFC 1321), only to check that downloaded or found data files are the canonical ones.
// Not for security.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace glassbox::datasets {

// Incremental MD5: update() any number of times, then hex_digest() once. Used to hash data
// as it streams (a decompressed .gz) without holding it in memory.
class Md5 {
 public:
  void update(const void* data, size_t size);
  std::string hex_digest();  // lower-case hex; call once, after the last update

 private:
  void transform(const uint8_t* block);
  uint32_t state_[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  uint8_t block_[64] = {};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex digest of a byte range / of a whole regular file, streamed (throws
// glassbox::Error naming the file when it cannot be read or is not a regular file: a FIFO or
// /dev/zero would block or never end).
std::string md5_hex(const void* data, size_t size);
std::string md5_file(const std::string& path);

}  // namespace glassbox::datasets
