// Tests for the IDX reader/writer (datasets/idx.h) and MD5 (datasets/md5.h): round trips for
// every dtype, raw and gzip, the exact big-endian layout, every class of malformed file, and
// the RFC 1321 vectors. Malformed files, and gzip streams, are built byte by byte here (stored
// deflate blocks and a bitwise CRC-32) or with zlib directly, not with the writer under test.
// Hostile inputs: forged sizes that would make a reader allocate gigabytes (checked against the
// allocator's peak, and in a child under an address-space limit), FIFOs, devices, and a file
// that shrinks while it is read.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "resource_limits.h"
#include "temp_dir.h"
#include "datasets/idx.h"
#include "datasets/md5.h"
#include "glassbox.h"

using namespace glassbox;
using namespace glassbox::datasets;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void be32(Bytes& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void le16(Bytes& out, uint32_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void le32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// An IDX header: two zero bytes, the type code, the rank, one big-endian uint32 per dim.
Bytes idx_header(uint8_t code, std::initializer_list<uint32_t> dims) {
  Bytes out = {0, 0, code, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) be32(out, d);
  return out;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

uint32_t crc32(const Bytes& data) {
  uint32_t c = 0xffffffffu;
  for (uint8_t b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A gzip file holding `data` in stored (uncompressed) deflate blocks. `isize` replaces the
// trailer's uncompressed-size field, to forge a trailer that disagrees with the data.
Bytes gzip_stored(const Bytes& data, int64_t isize = -1) {
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};  // deflate, no flags, unknown OS
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, data.size() - pos);
    out.push_back(pos + n == data.size() ? 1 : 0);  // BFINAL on the last block, BTYPE 00
    le16(out, static_cast<uint32_t>(n));
    le16(out, static_cast<uint32_t>(~n & 0xffff));
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
               data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < data.size());
  le32(out, crc32(data));
  le32(out, isize >= 0 ? static_cast<uint32_t>(isize) : static_cast<uint32_t>(data.size()));
  return out;
}

// A gzip member compressed by zlib itself (level 9), for streams that really shrink.
Bytes gzip_zlib(const Bytes& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  Bytes out(deflateBound(&z, static_cast<uLong>(data.size())));
  z.next_in = const_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Overwrites the trailer's ISIZE (the last 4 bytes, little-endian), forging the size.
void forge_isize(Bytes& gz, uint64_t total) {
  for (int i = 0; i < 4; ++i) gz[gz.size() - 4 + i] = static_cast<uint8_t>(total >> (8 * i));
}

// ~1 GB claimed by a 1 MiB stream: within deflate's 1032:1 bound, so only the growing buffer
// stops a reader from allocating the claim; the trailer's ISIZE is forged to agree with it.
Bytes forged_gigabyte() {
  Bytes data(size_t{1} << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 131 + (i >> 8));
  Bytes gz = gzip_stored(concat(idx_header(0x08, {1000, 1000, 1000}), data));
  forge_isize(gz, 16 + uint64_t{1000000000});
  return gz;
}

// Runs f, which must throw glassbox::Error with every piece somewhere in its message.
template <class F>
void check_error(F&& f, std::initializer_list<std::string> pieces) {
  try {
    f();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& piece : pieces)
      CHECK_MESSAGE(msg.find(piece) != std::string::npos, "message: ", msg, "\nlacks: ", piece);
    return;
  }
  FAIL("no glassbox::Error was thrown; expected one mentioning ", *pieces.begin());
}

// Writes `t` raw and gzipped, reads both back, and checks shape, dtype and exact bits.
template <class T>
void check_round_trip(const TempDir& dir, const Tensor& t, const std::string& name) {
  for (bool gzip : {false, true}) {
    CAPTURE(gzip);
    const std::string path = dir.file(name + (gzip ? ".gz" : ""));
    write_idx(path, t, gzip);
    const Bytes bytes = read_bytes(path);
    REQUIRE(bytes.size() >= 2);
    CHECK((bytes[0] == 0x1f && bytes[1] == 0x8b) == gzip);
    Tensor back = read_idx(path);
    CHECK(back.dtype() == t.dtype());
    CHECK(back.shape() == t.shape());
    const std::vector<T> want = t.to_vector<T>(), got = back.to_vector<T>();
    REQUIRE(got.size() == want.size());
    // memcmp, so NaN payloads and the sign of zero must survive too (empty vectors may hold
    // null pointers, which memcmp must not be given)
    if (!want.empty()) CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(T)) == 0);
  }
}

}  // namespace

TEST_SUITE("idx") {
  // ------------------------------------------------------------------------ round trips

  TEST_CASE("uint8 3-D round trip, raw and gzip, contiguous or not") {
    TempDir dir;
    std::vector<uint8_t> v(3 * 4 * 5);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 37 + 11);
    Tensor t = from_vector(v, {3, 4, 5});
    check_round_trip<uint8_t>(dir, t, "u8");
    check_round_trip<uint8_t>(dir, t.permute({2, 0, 1}), "u8_permuted");
    // the exact layout: header, then the bytes in row-major order
    write_idx(dir.file("layout"), t);
    CHECK(read_bytes(dir.file("layout")) == concat(idx_header(0x08, {3, 4, 5}), v));
  }

  TEST_CASE("int64 1-D round trip stores big-endian int32") {
    TempDir dir;
    const std::vector<int64_t> v = {0x01020304,
                                    -1,
                                    -2,
                                    0,
                                    std::numeric_limits<int32_t>::min(),
                                    std::numeric_limits<int32_t>::max()};
    Tensor t = from_vector(v);
    check_round_trip<int64_t>(dir, t, "i64");
    write_idx(dir.file("layout"), t);
    Bytes want = idx_header(0x0C, {6});
    for (int64_t x : v) be32(want, static_cast<uint32_t>(x));
    CHECK(read_bytes(dir.file("layout")) == want);
    CHECK(want[8] == 0x01);  // 0x01020304 as 01 02 03 04
    CHECK(want[11] == 0x04);
  }

  TEST_CASE("float32 round trip keeps every bit") {
    TempDir dir;
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> v = {-1.5f,   0.0f, -0.0f, 1e-40f /* subnormal */,
                            3.4e38f, inf,  -inf,  std::numeric_limits<float>::quiet_NaN()};
    Tensor t = from_vector(v, {2, 4});
    check_round_trip<float>(dir, t, "f32");
    write_idx(dir.file("layout"), from_vector(std::vector<float>{-1.5f}));
    CHECK(read_bytes(dir.file("layout")) == concat(idx_header(0x0D, {1}), {0xBF, 0xC0, 0, 0}));
  }

  TEST_CASE("float64 round trip keeps every bit") {
    TempDir dir;
    std::vector<double> v = {-1.5, 0.1, -0.0, 1e-310, 1.7976931348623157e308, M_PI};
    Tensor t = from_vector(v, {3, 1, 2});
    check_round_trip<double>(dir, t, "f64");
    write_idx(dir.file("layout"), from_vector(std::vector<double>{-1.5}));
    CHECK(read_bytes(dir.file("layout")) ==
          concat(idx_header(0x0E, {1}), {0xBF, 0xF8, 0, 0, 0, 0, 0, 0}));
  }

  TEST_CASE("data larger than one read chunk round-trips") {
    TempDir dir;
    std::vector<uint8_t> v(3 * 700 * 800);  // 1.6 MiB
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
    check_round_trip<uint8_t>(dir, from_vector(v, {3, 700, 800}), "big_u8");
    check_round_trip<float>(dir, randn({300001}), "big_f32");  // 1.14 MiB, odd count
    check_round_trip<int64_t>(dir, arange(-150000, 150001, 1, dtype(kInt64)), "big_i64");
  }

  TEST_CASE("a zero-sized dimension gives an empty tensor") {
    TempDir dir;
    check_round_trip<float>(dir, zeros({0, 28}), "empty_f32");
    write_bytes(dir.file("empty_dims"), idx_header(0x08, {5, 0, 7}));
    Tensor t = read_idx(dir.file("empty_dims"));
    CHECK(t.shape() == Shape{5, 0, 7});
    CHECK(t.numel() == 0);
  }

  TEST_CASE("int8, int16 and int32 files read as int64, sign-extended") {
    TempDir dir;
    write_bytes(dir.file("i8"), concat(idx_header(0x09, {4}), {0x00, 0x7F, 0x80, 0xFF}));
    CHECK(read_idx(dir.file("i8")).to_vector<int64_t>() == std::vector<int64_t>{0, 127, -128, -1});
    write_bytes(dir.file("i16"),
                concat(idx_header(0x0B, {2, 2}), {0x01, 0x02, 0x7F, 0xFF, 0x80, 0x00, 0xFF, 0xFE}));
    Tensor i16 = read_idx(dir.file("i16"));
    CHECK(i16.dtype() == kInt64);
    CHECK(i16.shape() == Shape{2, 2});
    CHECK(i16.to_vector<int64_t>() == std::vector<int64_t>{0x0102, 32767, -32768, -2});
    write_bytes(dir.file("i32"),
                concat(idx_header(0x0C, {2}), {0x01, 0x02, 0x03, 0x04, 0x80, 0x00, 0x00, 0x00}));
    CHECK(read_idx(dir.file("i32")).to_vector<int64_t>() ==
          std::vector<int64_t>{0x01020304, std::numeric_limits<int32_t>::min()});
  }

  TEST_CASE("int16 data larger than one chunk widens correctly across chunk edges") {
    TempDir dir;
    const uint32_t n = 700000;  // 1.4 MB on disk
    Bytes file = idx_header(0x0B, {n});
    for (uint32_t i = 0; i < n; ++i) {
      const uint16_t v = static_cast<uint16_t>(i * 7919u);
      file.push_back(static_cast<uint8_t>(v >> 8));
      file.push_back(static_cast<uint8_t>(v));
    }
    write_bytes(dir.file("i16.gz"), gzip_stored(file));
    std::vector<int64_t> got = read_idx(dir.file("i16.gz")).to_vector<int64_t>();
    REQUIRE(got.size() == n);
    bool all = true;
    for (uint32_t i = 0; i < n; ++i)
      all = all && got[i] == static_cast<int16_t>(static_cast<uint16_t>(i * 7919u));
    CHECK(all);
  }

  TEST_CASE("gzip is detected by content, not by the file name") {
    TempDir dir;
    Tensor t = from_vector(std::vector<uint8_t>{1, 2, 3});
    write_idx(dir.file("gz_without_suffix"), t, true);
    write_idx(dir.file("raw.gz"), t, false);
    CHECK(equal(read_idx(dir.file("gz_without_suffix")), t));
    CHECK(equal(read_idx(dir.file("raw.gz")), t));
  }

  TEST_CASE("the gzip writer records the uncompressed size in the trailer") {
    TempDir dir;
    Tensor t = arange(0, 1000, 1, dtype(kFloat32)).view({10, 100});
    write_idx(dir.file("t.gz"), t, true);
    const Bytes gz = read_bytes(dir.file("t.gz"));
    REQUIRE(gz.size() >= 18);
    const size_t e = gz.size();
    const uint32_t isize = uint32_t{gz[e - 4]} | uint32_t{gz[e - 3]} << 8 |
                           uint32_t{gz[e - 2]} << 16 | uint32_t{gz[e - 1]} << 24;
    CHECK(isize == 4 + 2 * 4 + 1000 * 4);
  }

  TEST_CASE("a hand-made gzip of several stored blocks reads") {
    TempDir dir;
    Bytes data(200000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i ^ (i >> 9));
    write_bytes(dir.file("blocks.gz"), gzip_stored(concat(idx_header(0x08, {200000}), data)));
    Tensor t = read_idx(dir.file("blocks.gz"));
    CHECK(t.to_vector<uint8_t>() == data);
  }

  TEST_CASE("a stream of two gzip members reads although the trailer has only the last size") {
    TempDir dir;
    const Bytes data = {9, 8, 7, 6, 5, 4};
    const Bytes whole = concat(idx_header(0x08, {2, 3}), data);
    const Bytes first(whole.begin(), whole.begin() + 7), second(whole.begin() + 7, whole.end());
    write_bytes(dir.file("members.gz"), concat(gzip_stored(first), gzip_stored(second)));
    Tensor t = read_idx(dir.file("members.gz"));
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.to_vector<uint8_t>() == data);
  }

  // ------------------------------------------------------------------------- read errors

  TEST_CASE("a missing file names the file and the system's reason") {
    TempDir dir;
    const std::string path = dir.file("train-images-idx3-ubyte.gz");
    check_error([&] { read_idx(path); },
                {"read_idx", path, "cannot open file", "No such file or directory"});
  }

  TEST_CASE("a directory is not a regular file") {
    TempDir dir;
    check_error([&] { read_idx(dir.path.string()); }, {dir.path.string(), "not a regular file"});
  }

  TEST_CASE("a FIFO without a writer is refused at once, not waited on") {
    TempDir dir;
    const std::string fifo = dir.file("images.gz");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    for (int which = 0; which < 2; ++which) {
      CAPTURE(which);  // 0: read_idx, 1: md5_file
      auto outcome = std::async(std::launch::async, [&] {
        try {
          if (which == 0) {
            read_idx(fifo);
          } else {
            md5_file(fifo);
          }
          return std::string("no error");
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
      if (outcome.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) {
        // Unblock the reader (a writer that closes at once gives it end-of-file), then fail.
        const int fd = ::open(fifo.c_str(), O_WRONLY);
        if (fd >= 0) ::close(fd);
        outcome.wait();
        FAIL("reading a FIFO blocked for 10 s");
      }
      const std::string msg = outcome.get();
      CHECK_MESSAGE(msg.find(fifo) != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("not a regular file") != std::string::npos, msg);
    }
  }

  TEST_CASE("/dev/zero is refused as a device, not read forever") {
    if (!fs::exists("/dev/zero")) {
      MESSAGE("no /dev/zero; skipped");
      return;
    }
    check_error([&] { read_idx("/dev/zero"); },
                {"read_idx", "/dev/zero", "not a regular file", "character device"});
    check_error([&] { md5_file("/dev/zero"); }, {"md5_file", "/dev/zero", "not a regular file"});
    TempDir dir;
    check_error([&] { read_idx(dir.path.string()); }, {dir.path.string(), "a directory"});
  }

  TEST_CASE("a raw file that shrinks while it is read fails as truncated") {
    // A thread cuts the file at moments from before the open to after the read; every outcome
    // must be the whole tensor (the cut came late) or an Error saying truncated, never a
    // tensor with missing data.
    TempDir dir;
    const std::string path = dir.file("shrinking");
    Bytes data(size_t{16} << 20);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
    const Bytes file = concat(idx_header(0x08, {16, 1024, 1024}), data);
    int truncated = 0;
    for (int attempt = 0; attempt < 12; ++attempt) {
      CAPTURE(attempt);
      write_bytes(path, file);
      auto reader = std::async(std::launch::async, [&]() -> std::string {
        try {
          Tensor t = read_idx(path);
          return t.to_vector<uint8_t>() == data ? "whole" : "wrong data";
        } catch (const Error& e) {
          return e.what();
        }
      });
      std::this_thread::sleep_for(std::chrono::microseconds(250 * attempt));
      REQUIRE(::truncate(path.c_str(), 16 + 1000) == 0);
      const std::string outcome = reader.get();
      if (outcome == "whole") continue;
      CHECK_MESSAGE(outcome.find(path) != std::string::npos, outcome);
      CHECK_MESSAGE(outcome.find("truncated") != std::string::npos, outcome);
      ++truncated;
    }
    CHECK(truncated > 0);  // the first attempts cut the file before it can have been read
  }

  TEST_CASE("an empty file") {
    TempDir dir;
    write_bytes(dir.file("empty"), {});
    check_error([&] { read_idx(dir.file("empty")); }, {dir.file("empty"), "empty file"});
  }

  TEST_CASE("a file shorter than the magic number") {
    TempDir dir;
    write_bytes(dir.file("short"), {0, 0, 8});
    check_error([&] { read_idx(dir.file("short")); },
                {dir.file("short"), "truncated header", "holds 3 bytes"});
  }

  TEST_CASE("bad magic: the first two bytes are not zero") {
    TempDir dir;
    write_bytes(dir.file("magic"), {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0});
    check_error([&] { read_idx(dir.file("magic")); },
                {dir.file("magic"), "bad magic 0x12345678", "two zero bytes"});
  }

  TEST_CASE("an unknown type code") {
    TempDir dir;
    write_bytes(dir.file("code"), concat(idx_header(0x07, {1}), {0}));
    check_error([&] { read_idx(dir.file("code")); },
                {dir.file("code"), "unknown IDX type code 0x07"});
  }

  TEST_CASE("rank 0") {
    TempDir dir;
    write_bytes(dir.file("rank0"), {0, 0, 0x08, 0, 42});
    check_error([&] { read_idx(dir.file("rank0")); }, {dir.file("rank0"), "rank 0"});
  }

  TEST_CASE("a header cut off inside the dimensions") {
    TempDir dir;
    Bytes header = idx_header(0x08, {60000, 28, 28});
    header.resize(9);
    write_bytes(dir.file("cut_header"), header);
    check_error([&] { read_idx(dir.file("cut_header")); },
                {dir.file("cut_header"), "truncated header", "rank 3 needs 16", "ends after 9"});
  }

  TEST_CASE("a truncated raw payload reports the sizes") {
    TempDir dir;
    const std::string path = dir.file("train-images-idx3-ubyte");
    write_bytes(path, concat(idx_header(0x08, {60000, 28, 28}), Bytes(1000, 7)));
    check_error([&] { read_idx(path); },
                {path, "truncated: header says [60000,28,28] uint8 = 47040000 bytes of data",
                 "the file holds 1000"});
  }

  TEST_CASE("a raw file with bytes after the data") {
    TempDir dir;
    write_bytes(dir.file("long"), concat(idx_header(0x0D, {2}), Bytes(8 + 12, 0)));
    check_error([&] { read_idx(dir.file("long")); },
                {dir.file("long"), "12 bytes after the data", "longer than its header says"});
  }

  TEST_CASE("a gzip file cut in half") {
    TempDir dir;
    Tensor t = randn({5000});  // random floats: the deflate stream cannot shrink much
    write_idx(dir.file("whole.gz"), t, true);
    Bytes gz = read_bytes(dir.file("whole.gz"));
    gz.resize(gz.size() / 2);
    write_bytes(dir.file("half.gz"), gz);
    check_error([&] { read_idx(dir.file("half.gz")); },
                {dir.file("half.gz"), "not a complete gzip stream", "unexpected end of file"});
  }

  TEST_CASE("a gzip file shorter than a gzip header and trailer") {
    TempDir dir;
    write_bytes(dir.file("tiny.gz"), {0x1f, 0x8b, 8, 0, 0});
    check_error([&] { read_idx(dir.file("tiny.gz")); },
                {dir.file("tiny.gz"), "not a complete gzip stream", "holds 5 bytes"});
  }

  TEST_CASE("gzip: dimensions more than the compressed bytes can produce fail before allocating") {
    TempDir dir;
    // 10^9 bytes promised by a 49-byte file: deflate expands at most 1032:1. An allocation
    // first would take a gigabyte; the allocator's peak shows whether one happened.
    const std::string path = dir.file("liar.gz");
    const Bytes gz = gzip_stored(concat(idx_header(0x08, {1000, 1000, 1000}), Bytes(10, 1)));
    write_bytes(path, gz);
    reset_peak_memory();
    const int64_t live = memory_stats().live_bytes;
    check_error([&] { read_idx(path); },
                {path, "header says [1000,1000,1000] uint8 = 1000000000 bytes of data",
                 "a " + std::to_string(gz.size()) + "-byte gzip file can hold at most " +
                     std::to_string(1032 * gz.size())});
    CHECK(memory_stats().peak_bytes - live < (int64_t{64} << 20));
  }

  TEST_CASE("gzip: a 33-byte file claiming 16 GiB is refused before any allocation") {
    // The file: zlib's gzip of a 16-byte header [4,65536,65536] uint8 (exactly the
    // 16 GiB cap) and no data. Its trailer's ISIZE, 16, is also 16 + 2^34 mod 2^32, so the
    // trailer "agrees" with the header and only the deflate bound can catch it early.
    TempDir dir;
    const std::string path = dir.file("bomb.gz");
    const Bytes gz = gzip_zlib(idx_header(0x08, {4, 65536, 65536}));
    REQUIRE(gz.size() <= 40);
    write_bytes(path, gz);
    reset_peak_memory();
    const int64_t live = memory_stats().live_bytes;
    check_error([&] { read_idx(path); },
                {"read_idx", path, "header says [4,65536,65536] uint8 = 17179869184 bytes",
                 "a " + std::to_string(gz.size()) + "-byte gzip file can hold at most " +
                     std::to_string(1032 * gz.size())});
    CHECK(memory_stats().peak_bytes - live < (int64_t{1} << 20));
  }

  TEST_CASE("gzip: a forged size within the deflate bound grows the buffer only with the data") {
    TempDir dir;
    const std::string path = dir.file("forged.gz");
    write_bytes(path, forged_gigabyte());
    reset_peak_memory();
    const int64_t live = memory_stats().live_bytes;
    // zlib reports the forged trailer at the end of the data, which is cut short anyway
    check_error([&] { read_idx(path); }, {"read_idx", path});
    // the first buffer is 4 MiB + 8 x the 1 MiB file, never the claimed gigabyte
    CHECK(memory_stats().peak_bytes - live < (int64_t{64} << 20));
    // with a true trailer the same stream is diagnosed as truncated, with the real count
    Bytes honest = forged_gigabyte();
    forge_isize(honest, 16 + (size_t{1} << 20));
    write_bytes(path, honest);
    check_error([&] { read_idx(path); },
                {path, "truncated: header says [1000,1000,1000] uint8", "the file holds 1048576"});
  }

#ifndef GLASSBOX_SANITIZED  // AddressSanitizer reserves terabytes of address space
  TEST_CASE("gzip: under an address-space limit a forged gigabyte is an Error, not bad_alloc") {
    TempDir dir;
    const std::string path = dir.file("forged.gz");
    write_bytes(path, forged_gigabyte());
    // The child gets what it maps now plus 512 MiB: less than the claimed 10^9 bytes, plenty
    // for the real megabyte. Exit codes: 0 the expected Error, 1 another Error (e.g. the
    // allocator's out-of-memory), 2 bad_alloc, 3 another exception, 4 no error at all.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      empty_cache();  // a cached gigabyte block from an earlier test would hide the allocation
      if (!test_limits::limit_address_space_to_current_plus(rlim_t{512} << 20)) ::_exit(5);
      try {
        read_idx(path);
      } catch (const Error& e) {
        ::_exit(std::string(e.what()).find(path) != std::string::npos ? 0 : 1);
      } catch (const std::bad_alloc&) {
        ::_exit(2);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(4);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 0, "child exit ", WEXITSTATUS(status),
                  " (1: an Error not naming the file, 2: bad_alloc, 3: other, 4: none, 5: rlimit)");
  }
#endif

  TEST_CASE("gzip: data larger than the first buffer grows into the right tensor") {
    TempDir dir;
    // 24 MiB of a repeating pattern compress ~1000:1, so the first buffer (4 MiB + 8 x file)
    // holds a fifth of it and the buffer doubles three times; the copy at each growth and the
    // final view must keep every byte.
    const uint32_t rows = 24, cols = 1 << 20;
    Bytes data(size_t{rows} * cols);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i % 251);
    const Bytes file = concat(idx_header(0x08, {rows, cols}), data);
    const Bytes gz = gzip_zlib(file);
    REQUIRE(gz.size() * 8 + (size_t{4} << 20) < data.size() / 4);
    write_bytes(dir.file("grow.gz"), gz);
    Tensor t = read_idx(dir.file("grow.gz"));
    CHECK(t.shape() == Shape{rows, cols});
    CHECK(t.is_contiguous());
    CHECK(t.to_vector<uint8_t>() == data);
    // the same data as two gzip members (ISIZE holds only the second's size)
    const size_t cut = file.size() / 3;
    write_bytes(dir.file("grow2.gz"), concat(gzip_zlib(Bytes(file.begin(), file.begin() + cut)),
                                             gzip_zlib(Bytes(file.begin() + cut, file.end()))));
    CHECK(read_idx(dir.file("grow2.gz")).to_vector<uint8_t>() == data);
    // int16 widens to int64 through the growing buffer: 8 bytes in memory per 2 on disk
    const uint32_t n = 3 << 20;
    Bytes i16 = idx_header(0x0B, {n});
    for (uint32_t i = 0; i < n; ++i) {
      const uint16_t v = static_cast<uint16_t>((i % 1000) * 65);
      i16.push_back(static_cast<uint8_t>(v >> 8));
      i16.push_back(static_cast<uint8_t>(v));
    }
    write_bytes(dir.file("i16.gz"), gzip_zlib(i16));
    const std::vector<int64_t> got = read_idx(dir.file("i16.gz")).to_vector<int64_t>();
    REQUIRE(got.size() == n);
    bool all = true;
    for (uint32_t i = 0; i < n; ++i)
      all = all && got[i] == static_cast<int16_t>(static_cast<uint16_t>((i % 1000) * 65));
    CHECK(all);
  }

  TEST_CASE("dimensions whose product is implausibly large are refused") {
    TempDir dir;
    write_bytes(dir.file("huge.gz"),
                gzip_stored(concat(idx_header(0x08, {1000000, 1000000, 1000}), Bytes(10, 1))));
    check_error([&] { read_idx(dir.file("huge.gz")); },
                {dir.file("huge.gz"), "[1000000,1000000,1000] uint8", "16 GiB"});
    // 255 dimensions of 2^32 - 1 overflow 64 bits many times over; the check must not wrap
    Bytes header = {0, 0, 0x0D, 255};
    for (int i = 0; i < 255; ++i) be32(header, 0xFFFFFFFFu);
    write_bytes(dir.file("overflow"), header);
    check_error([&] { read_idx(dir.file("overflow")); }, {dir.file("overflow"), "16 GiB"});
  }

  TEST_CASE("gzip: a trailer that disagrees with the data is diagnosed by decompressing") {
    TempDir dir;
    // the stream really holds 12 bytes more than the header says; the forged trailer says 100
    const Bytes content = concat(idx_header(0x08, {4}), Bytes(4 + 12, 3));
    write_bytes(dir.file("long.gz"), gzip_stored(content, 100));
    // zlib itself checks the trailer's length at the end of the stream
    check_error([&] { read_idx(dir.file("long.gz")); },
                {dir.file("long.gz"), "not a complete gzip stream", "incorrect length check"});
    // with a true trailer the same stream is diagnosed as too long
    write_bytes(dir.file("long2.gz"), gzip_stored(content));
    check_error([&] { read_idx(dir.file("long2.gz")); },
                {dir.file("long2.gz"), "12 bytes after the data"});
  }

  TEST_CASE("gzip: a corrupt deflate body reports zlib's message") {
    TempDir dir;
    Tensor t = arange(0, 20000, 1, dtype(kFloat32)).view({100, 200});
    write_idx(dir.file("ok.gz"), t, true);
    Bytes gz = read_bytes(dir.file("ok.gz"));
    REQUIRE(gz.size() > 100);
    for (size_t i = gz.size() / 2; i < gz.size() / 2 + 8; ++i) gz[i] ^= 0x5A;
    write_bytes(dir.file("corrupt.gz"), gz);
    check_error([&] { read_idx(dir.file("corrupt.gz")); },
                {dir.file("corrupt.gz"), "not a complete gzip stream"});
  }

  TEST_CASE("gzip: a wrong CRC is caught although sizes agree") {
    TempDir dir;
    Bytes gz = gzip_stored(concat(idx_header(0x08, {3}), {1, 2, 3}));
    gz[gz.size() - 8] ^= 0xFF;  // first byte of the CRC-32
    write_bytes(dir.file("crc.gz"), gz);
    check_error([&] { read_idx(dir.file("crc.gz")); },
                {dir.file("crc.gz"), "not a complete gzip stream", "incorrect data check"});
  }

  // ------------------------------------------------------------------------ write errors

  TEST_CASE("write_idx refuses bool tensors") {
    TempDir dir;
    Tensor b = from_vector<bool>({true, false}, {2});
    check_error([&] { write_idx(dir.file("b"), b); }, {"write_idx", dir.file("b"), "bool"});
    CHECK_FALSE(fs::exists(dir.file("b")));  // checked before the file is created
  }

  TEST_CASE("write_idx refuses int64 values outside int32") {
    TempDir dir;
    check_error(
        [&] {
          write_idx(dir.file("big"), tensor({int64_t{1}, int64_t{1} << 31}));
        },
        {dir.file("big"), "2147483648", "int32"});
    check_error([&] { write_idx(dir.file("small"), tensor({int64_t{-2147483649LL}})); },
                {dir.file("small"), "-2147483649", "int32"});
    CHECK_FALSE(fs::exists(dir.file("big")));
  }

  TEST_CASE("write_idx refuses rank 0") {
    TempDir dir;
    check_error([&] { write_idx(dir.file("s"), scalar_tensor(1.0)); },
                {dir.file("s"), "rank 0", "1 to 255"});
  }

  TEST_CASE("write_idx names the file it cannot create") {
    TempDir dir;
    const std::string path = dir.file("no_such_dir/x.idx");
    for (bool gzip : {false, true})
      check_error([&] { write_idx(path, tensor({1.f}), gzip); },
                  {path, "No such file or directory (while creating the temporary"});
  }

  TEST_CASE("write_idx on a full disk fails loudly and keeps the previous file whole") {
    TempDir dir;
    const std::string path = dir.file("x.idx");
    // noise does not compress, so the gzip stream is as large as the raw one
    Tensor big = rand({1 << 16}).to(kFloat32);
    for (bool gzip : {false, true}) {
      CAPTURE(gzip);
      write_idx(path, tensor({1.f, 2.f}), gzip);
      const std::string msg =
          test_limits::with_file_size_limit(8192, [&] { write_idx(path, big, gzip); });
      CHECK(msg.rfind("write_idx: " + path + ": cannot write the file: File too large", 0) == 0);
      CHECK(read_idx(path).to_vector<float>() == std::vector<float>{1.f, 2.f});
      CHECK(dir.entries() == std::vector<std::string>{"x.idx"});
    }
    // a device is not a file to replace (as root, renaming over /dev/full would swap it out)
    if (fs::exists("/dev/full"))
      check_error([&] { write_idx("/dev/full", tensor({1.f}), false); },
                  {"/dev/full", "not a regular file"});
  }

  // -------------------------------------------------------------------------------- MD5

  TEST_CASE("md5: the RFC 1321 test suite") {
    auto md5 = [](const std::string& s) { return md5_hex(s.data(), s.size()); };
    CHECK(md5("") == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(md5("a") == "0cc175b9c0f1b6a831c399e269772661");
    CHECK(md5("abc") == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(md5("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK(md5("abcdefghijklmnopqrstuvwxyz") == "c3fcd3d76192e4007dfb496cca67e13b");
    CHECK(md5("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
          "d174ab98d277d9f5a5611c2c9f419d9f");
    std::string digits;
    for (int i = 0; i < 8; ++i) digits += "1234567890";
    CHECK(md5(digits) == "57edf4a22be3c955ac49da2e2107b67a");
  }

  TEST_CASE("md5: lengths around the padding boundary") {
    // Reference digests from Python's hashlib.md5(b"a" * n).
    const std::pair<size_t, const char*> cases[] = {
        {55, "ef1772b6dff9a122358552954ad0df65"}, {56, "3b0c8ac703f828b04c6c197006d17218"},
        {63, "b06521f39153d618550606be297466d5"}, {64, "014842d480b571495a4a0363793f7367"},
        {65, "c743a45e0d2e6a95cb859adae0248435"}, {119, "8a7bd0732ed6a28ce75f6dabc90e1613"},
        {120, "5f61c0ccad4cac44c75ff505e1f1e537"}};
    for (const auto& [n, digest] : cases) {
      CAPTURE(n);
      const std::string s(n, 'a');
      CHECK(md5_hex(s.data(), s.size()) == digest);
    }
  }

  TEST_CASE("md5_file streams inputs larger than its 1 MiB chunk") {
    TempDir dir;
    Bytes data(3 * (size_t{1} << 20) + 17);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + (i >> 11));
    write_bytes(dir.file("big.bin"), data);
    const std::string want = "b6355848170dd9d7a5ef9d80af638e5f";  // hashlib.md5 of the same
    CHECK(md5_hex(data.data(), data.size()) == want);
    CHECK(md5_file(dir.file("big.bin")) == want);
  }

  TEST_CASE("md5_file names a missing file") {
    TempDir dir;
    check_error([&] { md5_file(dir.file("absent.gz")); },
                {"md5_file", dir.file("absent.gz"), "No such file or directory"});
  }

  // ------------------------------------------------------------------------ real MNIST

  TEST_CASE("the real MNIST test labels, when present") {
    const std::string candidates[] = {
        std::string(GLASSBOX_SOURCE_DIR) + "/../shared/data/mnist/t10k-labels-idx1-ubyte.gz",
        "/work/shared/data/mnist/t10k-labels-idx1-ubyte.gz"};
    std::string path;
    for (const std::string& c : candidates)
      if (path.empty() && fs::exists(c)) path = c;
    if (path.empty()) {
      MESSAGE("MNIST t10k labels not found; real-data check skipped");
      return;
    }
    CHECK(md5_file(path) == "ec29112dd5afa0611ce80d1b7f02629c");
    Tensor labels = read_idx(path);
    CHECK(labels.dtype() == kUInt8);
    CHECK(labels.shape() == Shape{10000});
    CHECK(labels.max().item<double>() < 10);
    CHECK(labels.to_vector<uint8_t>()[0] == 7);
  }
}
