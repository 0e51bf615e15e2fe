// MD5 as specified in RFC 1321: the message is padded to a multiple of 64 bytes (a 1 bit, zeros,
// then the bit length as a little-endian 64-bit number) and each 64-byte block is mixed into
// four 32-bit words in 64 steps. All multi-byte values are assembled byte by byte, so the
// result does not depend on the host's byte order.
#include "datasets/md5.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace glassbox::datasets {
namespace {

// T[i] = floor(2^32 * |sin(i + 1)|), the RFC's sine table (section 3.4).
constexpr uint32_t kSine[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

// Left-rotation amounts: four per round, repeated for the 16 steps of the round.
constexpr int kShift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

void Md5::update(const void* bytes, size_t size) {
  const uint8_t* data = static_cast<const uint8_t*>(bytes);
  total_bytes_ += size;
  if (buffered_ > 0) {  // top up a partial block first
    size_t take = std::min(size, sizeof(block_) - buffered_);
    std::memcpy(block_ + buffered_, data, take);
    buffered_ += take, data += take, size -= take;
    if (buffered_ < sizeof(block_)) return;
    transform(block_);
    buffered_ = 0;
  }
  for (; size >= 64; data += 64, size -= 64) transform(data);
  std::memcpy(block_, data, size);
  buffered_ = size;
}

std::string Md5::hex_digest() {
  // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits (mod 2^64).
  const uint64_t bits = total_bytes_ * 8;
  uint8_t pad[72] = {0x80};
  size_t pad_len = (buffered_ < 56 ? 56 : 120) - buffered_;
  for (int i = 0; i < 8; ++i) pad[pad_len + i] = static_cast<uint8_t>(bits >> (8 * i));
  update(pad, pad_len + 8);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint32_t word : state_)
    for (int i = 0; i < 4; ++i) {
      uint8_t byte = static_cast<uint8_t>(word >> (8 * i));  // the digest is little-endian
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  return out;
}

void Md5::transform(const uint8_t* block) {
  uint32_t x[16];
  for (int i = 0; i < 16; ++i) x[i] = load_le32(block + 4 * i);
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  for (int i = 0; i < 64; ++i) {
    const int round = i / 16;
    uint32_t f;
    int k;  // which message word this step mixes in
    if (round == 0) {
      f = (b & c) | (~b & d), k = i;
    } else if (round == 1) {
      f = (b & d) | (c & ~d), k = (5 * i + 1) % 16;
    } else if (round == 2) {
      f = b ^ c ^ d, k = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d), k = (7 * i) % 16;
    }
    const uint32_t rotated = b + rotl(a + f + x[k] + kSine[i], kShift[round][i % 4]);
    a = d, d = c, c = b, b = rotated;
  }
  state_[0] += a, state_[1] += b, state_[2] += c, state_[3] += d;
}

std::string md5_hex(const void* data, size_t size) {
  Md5 md5;
  md5.update(data, size);
  return md5.hex_digest();
}

std::string md5_file(const std::string& path) {
  // O_NONBLOCK so a FIFO without a writer cannot block the open; fstat before reading so a
  // FIFO or a device (/dev/zero never ends) is refused.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  GB_CHECK(fd >= 0, "md5_file: ", path, ": cannot open file (", std::strerror(errno), ")");
  std::unique_ptr<std::FILE, FileCloser> file(::fdopen(fd, "rb"));
  if (!file) ::close(fd);
  GB_CHECK(file, "md5_file: ", path, ": cannot open file (", std::strerror(errno), ")");
  struct stat st;
  GB_CHECK(::fstat(fd, &st) == 0, "md5_file: ", path, ": cannot stat file (", std::strerror(errno),
           ")");
  GB_CHECK(S_ISREG(st.st_mode), "md5_file: ", path,
           ": not a regular file (a directory, FIFO or device cannot be checksummed)");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  // Streamed 1 MiB at a time so a large file never has to fit in memory.
  std::vector<uint8_t> chunk(size_t{1} << 20);
  Md5 md5;
  size_t n;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0)
    md5.update(chunk.data(), n);
  GB_CHECK(!std::ferror(file.get()), "md5_file: ", path, ": read error (", std::strerror(errno),
           ")");
  return md5.hex_digest();
}

}  // namespace glassbox::datasets
