// Tests for the safetensors reader/writer (core/safetensors.h): round trips through files,
// the exact on-disk layout, every class of malformed input, fuzzing the parser, and the
// atomic save. Malformed files are built byte by byte here, not with the writer under test.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "temp_dir.h"
#include "glassbox.h"

using namespace glassbox;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

void le64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// 8-byte little-endian `header_len`, then `header`, then `data`.
Bytes make_file(uint64_t header_len, const std::string& header, const Bytes& data = {}) {
  Bytes out;
  le64(out, header_len);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
Bytes make_file(const std::string& header, const Bytes& data = {}) {
  return make_file(header.size(), header, data);
}

uint64_t read_le64(const Bytes& b, size_t at = 0) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b.at(at + static_cast<size_t>(i));
  return v;
}

TensorMap parse(const Bytes& b, Metadata* meta = nullptr) {
  return safetensors_parse(b.data(), b.size(), meta, "test.safetensors");
}

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  REQUIRE(f.good());
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The element bytes of `t` in row-major order (bit-exact, so NaN, -0 and friends compare).
Bytes raw_bytes(const Tensor& t) {
  Tensor c = t.cpu().contiguous();
  const auto* p = static_cast<const uint8_t*>(c.raw_data());
  return c.nbytes() ? Bytes(p, p + c.nbytes()) : Bytes();
}

void check_same(const TensorMap& got, const std::string& name, const Tensor& want) {
  INFO("tensor '", name, "'");
  auto it = got.find(name);
  REQUIRE(it != got.end());
  const Tensor& t = it->second;
  REQUIRE(t.defined());
  CHECK(std::string(dtype_name(t.dtype())) == dtype_name(want.dtype()));
  CHECK(t.shape_str() == want.shape_str());
  if (t.numel() > 0) CHECK(t.is_contiguous());
  CHECK(raw_bytes(t) == raw_bytes(want));
}

Bytes f32_bytes(std::vector<float> v) {
  Bytes out(v.size() * 4);
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// The text of `"name":{...}` in a compact header (entries hold no nested objects).
std::string entry_of(const std::string& header, const std::string& name) {
  std::string key = "\"" + name + "\":{";
  size_t at = header.find(key);
  REQUIRE_MESSAGE(at != std::string::npos, "no entry for '", name, "' in ", header);
  size_t end = header.find('}', at);
  REQUIRE(end != std::string::npos);
  return header.substr(at + key.size(), end - at - key.size());
}

// The value text of `"field":` inside an entry: a string's contents or an array's contents.
std::string field_of(const std::string& entry, const std::string& field) {
  std::string key = "\"" + field + "\":";
  size_t at = entry.find(key);
  REQUIRE_MESSAGE(at != std::string::npos, "no field '", field, "' in ", entry);
  at += key.size();
  REQUIRE(at < entry.size());
  char close = entry[at] == '"' ? '"' : entry[at] == '[' ? ']' : '\0';
  REQUIRE(close != '\0');
  size_t end = entry.find(close, at + 1);
  REQUIRE(end != std::string::npos);
  return entry.substr(at + 1, end - at - 1);
}

std::pair<uint64_t, uint64_t> offsets_of(const std::string& entry) {
  std::string s = field_of(entry, "data_offsets");
  size_t comma = s.find(',');
  REQUIRE(comma != std::string::npos);
  return {std::stoull(s.substr(0, comma)), std::stoull(s.substr(comma + 1))};
}

// CRC-32 (IEEE, as zlib computes it), bit by bit: an independent reference for the writer.
uint32_t reference_crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

std::string hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// Where the data section of a serialised file starts.
size_t data_start(const Bytes& b) { return 8 + static_cast<size_t>(read_le64(b)); }

// The header text of a file and its data section.
std::string header_of(const Bytes& b) {
  return std::string(b.begin() + 8, b.begin() + static_cast<std::ptrdiff_t>(data_start(b)));
}
Bytes data_of(const Bytes& b) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(data_start(b)), b.end());
}

// The same file with the first `from` in its header replaced by `to` (the file is rebuilt around
// the new header when the length changes).
Bytes edit_header(const Bytes& b, const std::string& from, const std::string& to) {
  std::string header = header_of(b);
  const size_t at = header.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "no '", from, "' in ", header);
  header.replace(at, from.size(), to);
  return make_file(header, data_of(b));
}

// The same file without its header checksum, as if another writer had made it: the key follows
// "glassbox.crc32" (keys are sorted), so a comma precedes it.
Bytes without_header_crc(const Bytes& b) {
  const std::string header = header_of(b);
  const std::string key = ",\"glassbox.header_crc32\":\"";
  const size_t at = header.find(key);
  REQUIRE(at != std::string::npos);
  return edit_header(b, header.substr(at, key.size() + 9), "");
}

// The same file with the header's "glassbox.crc32" value replaced by `value` (same length keeps
// the header length; a different length rebuilds the file around the new header). The header
// checksum is removed first: it would report the edit before the data checksum is looked at.
Bytes with_crc_value(const Bytes& original, const std::string& value) {
  const Bytes b = without_header_crc(original);
  std::string header(b.begin() + 8, b.begin() + static_cast<std::ptrdiff_t>(data_start(b)));
  const std::string key = "\"glassbox.crc32\":\"";
  size_t at = header.find(key);
  REQUIRE(at != std::string::npos);
  at += key.size();
  size_t end = header.find('"', at);
  REQUIRE(end != std::string::npos);
  header.replace(at, end - at, value);
  return make_file(header, Bytes(b.begin() + static_cast<std::ptrdiff_t>(data_start(b)), b.end()));
}

// Reads all of a pipe's `n` bytes, or fewer at end of file.
ssize_t read_full(int fd, void* buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, static_cast<char*>(buf) + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

#if defined(__SANITIZE_ADDRESS__)
#define GB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GB_TEST_ASAN 1
#endif
#endif

// What `body`, run in a forked child, did: finished within the deadline or not, threw a
// glassbox::Error (`error`, with its message) or something else, or returned.
struct Outcome {
  bool finished = false;
  bool error = false;
  std::string message;
};

// Runs `body` in a child process, so that a load that hangs or exhausts memory cannot take the
// test run with it: the child is killed after `deadline_s` seconds, and its address space is
// capped at 4 GiB (not under ASan, whose shadow memory needs far more). `setup` runs first in
// the child (e.g. to set more limits).
template <class Body>
Outcome in_child(Body body, double deadline_s = 20, void (*setup)() = nullptr) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // never returns into doctest
    ::close(fds[0]);
#ifndef GB_TEST_ASAN
    const rlimit cap{rlim_t{4} << 30, rlim_t{4} << 30};
    ::setrlimit(RLIMIT_AS, &cap);
#endif
    if (setup) setup();
    std::string report;
    try {
      body();
      report = "R";
    } catch (const glassbox::Error& e) {
      report = std::string("E") + e.what();
    } catch (const std::exception& e) {
      report = std::string("X") + e.what();
    } catch (...) {
      report = "Xan unknown exception";
    }
    for (size_t done = 0; done < report.size();) {
      const ssize_t w = ::write(fds[1], report.data() + done, report.size() - done);
      if (w <= 0) ::_exit(3);
      done += static_cast<size_t>(w);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(deadline_s);
  std::string got;
  bool eof = false;
  while (!eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      eof = true;
    else
      got.append(buf, static_cast<size_t>(n));
  }
  if (!eof) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::close(fds[0]);
  Outcome o;
  o.finished = eof && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !got.empty();
  if (!got.empty()) {
    o.error = got[0] == 'E';
    o.message = got.substr(1);
    if (got[0] == 'X') o.message = "not a glassbox::Error: " + o.message;
  }
  if (!o.finished && got.empty())
    o.message = eof ? str("the child died (wait status ", status, ")")
                    : str("it did not finish within ", deadline_s, " s");
  return o;
}

Outcome load_in_child(const std::string& path, double deadline_s = 20) {
  return in_child([&] { (void)load_safetensors(path); }, deadline_s);
}

// A file of `size` bytes that starts with `head` and is a hole after it (no disk used).
void write_sparse(const std::string& path, const Bytes& head, uint64_t size) {
  write_bytes(path, head);
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(size)) == 0);
}

// The same file without either checksum, as PyTorch's safetensors writes it (metadata that holds
// nothing else becomes {}).
Bytes without_checksums(const Bytes& b) {
  const Bytes no_header_crc = without_header_crc(b);
  const std::string header = header_of(no_header_crc);
  const std::string key = "\"glassbox.crc32\":\"";
  const size_t at = header.find(key);
  REQUIRE(at != std::string::npos);
  const size_t n = key.size() + 9 + (header[at + key.size() + 9] == ',' ? 1 : 0);
  return edit_header(no_header_crc, header.substr(at, n), "");
}

// A string of `n` copies of `c`.
std::string rep(size_t n, char c) { return std::string(n, c); }

// A valid file with several dtypes, a 0-d and an empty tensor, and metadata.
TensorMap sample_tensors() {
  TensorMap m;
  m["weight"] = from_vector<float>({1.f, -2.f, 3.5f, 0.f, 1e-3f, -7.f}, {2, 3});
  m["bias"] = from_vector<double>({0.25, -0.5}, {2});
  m["steps"] = scalar_tensor(42, dtype(kInt64));
  m["mask"] = from_vector<bool>({true, false, true}, {3});
  m["pixels"] = from_vector<uint8_t>({0, 127, 255}, {3});
  m["nothing"] = zeros({0, 3});
  return m;
}

}  // namespace

TEST_SUITE("safetensors") {
  // ------------------------------------------------------------------ round trips
  TEST_CASE("round trip of every dtype through a file") {
    TempDir dir;
    const float fnan = std::numeric_limits<float>::quiet_NaN();
    const float finf = std::numeric_limits<float>::infinity();
    const double dinf = std::numeric_limits<double>::infinity();
    TensorMap in;
    in["f32"] = from_vector<float>(
        {0.f, -0.f, 1.5f, -3.25f, fnan, finf, -finf, std::numeric_limits<float>::denorm_min(),
         std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()},
        {2, 5});
    in["f64"] = from_vector<double>(
        {3.141592653589793, -1e300, 1e-310, -0.0, dinf, std::numeric_limits<double>::quiet_NaN()},
        {3, 1, 2});
    in["i64"] = from_vector<int64_t>({std::numeric_limits<int64_t>::min(), -1, 0, 1,
                                      std::numeric_limits<int64_t>::max(), (int64_t{1} << 53) + 1},
                                     {6});
    in["u8"] = from_vector<uint8_t>({0, 1, 2, 127, 128, 254, 255, 42}, {2, 2, 2});
    in["bool"] = from_vector<bool>({true, false, false, true, true, false}, {3, 2});
    in["scalar"] = scalar_tensor(-2.5, dtype(kFloat64));
    in["scalar_i64"] = scalar_tensor(-7, dtype(kInt64));
    in["empty"] = zeros({0, 3});
    in["empty_bool"] = zeros({2, 0}, dtype(kBool));
    const std::string path = dir.file("all.safetensors");
    save_safetensors(path, in);

    TensorMap out = load_safetensors(path);
    REQUIRE(out.size() == in.size());
    for (const auto& [name, t] : in) check_same(out, name, t);

    // Spot-check values through the typed accessors too, not only the bytes.
    CHECK(out["i64"].to_vector<int64_t>() == in["i64"].to_vector<int64_t>());
    CHECK(out["scalar"].dim() == 0);
    CHECK(out["scalar"].item<double>() == -2.5);
    CHECK(out["scalar_i64"].item<int64_t>() == -7);
    CHECK(out["empty"].numel() == 0);
    CHECK(out["empty"].shape() == Shape{0, 3});
    CHECK(out["empty_bool"].shape() == Shape{2, 0});
    CHECK(out["bool"].to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 0, 1, 1, 0});
    CHECK(out["f32"].dtype() == kFloat32);
    CHECK(out["f64"].dtype() == kFloat64);
    CHECK(out["u8"].dtype() == kUInt8);
    CHECK(out["bool"].dtype() == kBool);
  }

  TEST_CASE("loaded tensors own their memory and carry no autograd state") {
    Tensor w = from_vector<float>({1.f, 2.f, 3.f}, {3}, /*requires_grad=*/true);
    Bytes b = safetensors_serialize({{"w", w}});
    TensorMap out = parse(b);
    std::fill(b.begin(), b.end(), uint8_t{0xAB});  // the parsed tensor must not alias `b`
    CHECK(out["w"].to_vector<float>() == std::vector<float>{1.f, 2.f, 3.f});
    CHECK_FALSE(out["w"].requires_grad());
  }

  TEST_CASE("non-contiguous views are saved as their logical values") {
    TempDir dir;
    Tensor base = arange(0., 12.).view({3, 4});
    Tensor tr = base.t();  // [4,3], strides [1,4]
    REQUIRE_FALSE(tr.is_contiguous());
    Tensor stepped = arange(0, 10, 1, dtype(kInt64)).slice(0, 1, 10, 3);  // 1, 4, 7
    REQUIRE_FALSE(stepped.is_contiguous());
    Tensor expanded = from_vector<double>({1., 2., 3.}, {1, 3}).expand({4, 3});  // stride 0
    Tensor offset_view = base.select(0, 2);  // a view that starts mid-storage
    const std::string path = dir.file("views.safetensors");
    save_safetensors(path, {{"t", tr}, {"s", stepped}, {"e", expanded}, {"o", offset_view}});
    TensorMap out = load_safetensors(path);
    REQUIRE(out.size() == 4);
    check_same(out, "t", tr.contiguous());
    check_same(out, "s", stepped.contiguous());
    check_same(out, "e", expanded.contiguous());
    check_same(out, "o", offset_view.contiguous());
    CHECK(out["t"].shape() == Shape{4, 3});
    CHECK(out["t"].to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    CHECK(out["s"].to_vector<int64_t>() == std::vector<int64_t>{1, 4, 7});
    CHECK(out["o"].to_vector<float>() == std::vector<float>{8, 9, 10, 11});
    // The file holds only the viewed elements, not the whole storage.
    CHECK(read_bytes(path).size() ==
          8 + read_le64(read_bytes(path)) + 12 * 4 + 3 * 8 + 12 * 8 + 4 * 4);
  }

  TEST_CASE("metadata round trip") {
    TempDir dir;
    const std::string path = dir.file("meta.safetensors");
    Metadata meta{{"format", "pt"},
                  {"epoch", "12"},
                  {"empty", ""},
                  {"escapes", "a\"b\\c\nd\te/"},
                  {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"},
                  {"spaced key", "  padded  "}};
    save_safetensors(path, {{"x", ones({2})}}, meta);
    Metadata got;
    TensorMap out = load_safetensors(path, &got);
    CHECK(got == meta);
    check_same(out, "x", ones({2}));

    // Loading without asking for metadata works too.
    CHECK(load_safetensors(path).size() == 1);

    // Metadata alone, no tensors.
    save_safetensors(path, {}, {{"only", "meta"}});
    Metadata got2;
    CHECK(load_safetensors(path, &got2).empty());
    CHECK(got2 == Metadata{{"only", "meta"}});

    // Nothing at all.
    save_safetensors(path, {});
    Metadata got3;
    CHECK(load_safetensors(path, &got3).empty());
    CHECK(got3.empty());
    Bytes b = read_bytes(path);
    std::string header(b.begin() + 8, b.end());
    // the only metadata written are the checksums: of the (empty) data section, and of the
    // header's canonical text without the header checksum itself
    const std::string canonical = R"({"__metadata__":{"glassbox.crc32":"00000000"}})";
    const std::string header_crc =
        hex8(reference_crc32(reinterpret_cast<const uint8_t*>(canonical.data()), canonical.size()));
    CHECK(header.find(R"("__metadata__":{"glassbox.crc32":"00000000","glassbox.header_crc32":")" +
                      header_crc + "\"}}") != std::string::npos);
  }

  // ------------------------------------------------------------------ the byte format
  TEST_CASE("parses a hand-built file byte for byte") {
    // {"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 54 bytes: 0x36.
    const std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    REQUIRE(header.size() == 54);
    Bytes file = {0x36, 0, 0, 0, 0, 0, 0, 0};  // little-endian u64 header length
    file.insert(file.end(), header.begin(), header.end());
    const uint8_t data[] = {0x00, 0x00, 0x80, 0x3F,   // 1.0f
                            0x00, 0x00, 0x20, 0xC0};  // -2.5f
    file.insert(file.end(), std::begin(data), std::end(data));
    REQUIRE(file.size() == 8 + 54 + 8);

    Metadata meta;
    TensorMap out = parse(file, &meta);
    REQUIRE(out.size() == 1);
    const Tensor& w = out.at("w");
    CHECK(w.dtype() == kFloat32);
    CHECK(w.shape() == Shape{2});
    CHECK(w.to_vector<float>() == std::vector<float>{1.0f, -2.5f});
    CHECK(meta.empty());
  }

  TEST_CASE("parses a multi-byte header length, padding, and foreign key order") {
    // A header as another writer might produce it: pretty-printed, keys in another order,
    // tensors stored in a different order than their names, padded to 432 = 0x1B0 bytes.
    std::string header =
        "{\n  \"__metadata__\": {\"format\": \"pt\"},\n"
        "  \"a\": {\"data_offsets\": [8, 20], \"shape\": [3], \"dtype\": \"F32\"},\n"
        "  \"b\": {\"shape\": [1, 2], \"dtype\": \"U8\", \"data_offsets\": [0, 2]},\n"
        "  \"c\": {\"dtype\": \"BOOL\", \"shape\": [], \"data_offsets\": [2, 3]},\n"
        "  \"d\": {\"dtype\": \"I64\", \"shape\": [0], \"data_offsets\": [3, 3]},\n"
        "  \"f\": {\"dtype\": \"U8\", \"shape\": [5], \"data_offsets\": [3, 8]},\n"
        "  \"e\": {\"dtype\": \"F64\", \"shape\": [0, 5], \"data_offsets\": [20, 20]}\n}";
    REQUIRE(header.size() > 255);  // so the length needs two bytes
    REQUIRE(header.size() <= 432);
    header.append(432 - header.size(), ' ');
    Bytes data = {7, 9, 1, 10, 11, 12, 13, 14};  // b, c, f
    Bytes a = f32_bytes({0.5f, -1.f, 2.f});
    data.insert(data.end(), a.begin(), a.end());

    Bytes file = {0xB0, 0x01, 0, 0, 0, 0, 0, 0};  // 432, little-endian
    file.insert(file.end(), header.begin(), header.end());
    file.insert(file.end(), data.begin(), data.end());

    Metadata meta;
    TensorMap out = parse(file, &meta);
    CHECK(meta == Metadata{{"format", "pt"}});
    REQUIRE(out.size() == 6);
    CHECK(out["a"].to_vector<float>() == std::vector<float>{0.5f, -1.f, 2.f});
    CHECK(out["b"].shape() == Shape{1, 2});
    CHECK(out["b"].to_vector<uint8_t>() == std::vector<uint8_t>{7, 9});
    CHECK(out["c"].dim() == 0);
    CHECK(out["c"].dtype() == kBool);
    CHECK(out["c"].item<double>() == 1.0);
    CHECK(out["d"].shape() == Shape{0});
    CHECK(out["d"].dtype() == kInt64);
    CHECK(out["e"].shape() == Shape{0, 5});
    CHECK(out["f"].to_vector<uint8_t>() == std::vector<uint8_t>{10, 11, 12, 13, 14});
  }

  TEST_CASE("serialize: header length, padding and data_offsets") {
    TensorMap in = sample_tensors();
    in["odd"] = from_vector<uint8_t>({1, 2, 3, 4, 5}, {5});  // makes the data size odd
    Metadata meta{{"format", "pt"}};
    Bytes b = safetensors_serialize(in, meta);
    REQUIRE(b.size() >= 8);
    const uint64_t n = read_le64(b);
    REQUIRE(8 + n <= b.size());
    CHECK(n % 8 == 0);  // data starts 8-byte aligned
    const std::string header(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    const size_t last = header.find_last_not_of(' ');
    REQUIRE(last != std::string::npos);
    CHECK(header[0] == '{');
    CHECK(header[last] == '}');
    CHECK(header.size() - 1 - last < 8);  // at most 7 padding spaces, and only spaces
    CHECK(header.find('\0') == std::string::npos);

    const uint8_t* data = b.data() + 8 + n;
    const uint64_t data_size = b.size() - 8 - n;
    uint64_t total = 0;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    const std::map<DType, std::string> st_names = {
        {kFloat32, "F32"}, {kFloat64, "F64"}, {kInt64, "I64"}, {kUInt8, "U8"}, {kBool, "BOOL"}};
    for (const auto& kv : in) {
      const std::string& name = kv.first;  // not a structured binding: INFO captures it
      const Tensor& t = kv.second;
      INFO("tensor '", name, "' in header ", header);
      std::string entry = entry_of(header, name);
      CHECK(field_of(entry, "dtype") == st_names.at(t.dtype()));
      std::string shape = "[" + field_of(entry, "shape") + "]";
      std::string want_shape = t.shape_str();
      CHECK(shape == want_shape);
      auto [begin, end] = offsets_of(entry);
      REQUIRE(begin <= end);
      REQUIRE(end <= data_size);
      CHECK(end - begin == t.nbytes());
      CHECK(Bytes(data + begin, data + end) == raw_bytes(t));
      total += end - begin;
      ranges.push_back({begin, end});
    }
    CHECK(total == data_size);  // no trailing bytes
    std::sort(ranges.begin(), ranges.end());
    uint64_t covered = 0;
    for (auto [begin, end] : ranges) {
      CHECK(begin == covered);  // tiles the data section: no gaps, no overlap
      covered = end;
    }
    CHECK(covered == data_size);
    CHECK(field_of(entry_of(header, "__metadata__"), "format") == "pt");

    // The writer's output parses back to the same thing.
    Metadata meta2;
    TensorMap out = parse(b, &meta2);
    CHECK(meta2 == meta);
    for (const auto& [name, t] : in) check_same(out, name, t);

    // Serialising is deterministic.
    CHECK(safetensors_serialize(in, meta) == b);
  }

  TEST_CASE("serialize pads headers of every length") {
    // Tensor names of length 1..16 move the header length through every residue mod 8.
    for (int len = 1; len <= 16; ++len) {
      std::string name(static_cast<size_t>(len), 'n');
      Bytes b = safetensors_serialize({{name, ones({1})}});
      uint64_t n = read_le64(b);
      CAPTURE(len);
      CHECK(n % 8 == 0);
      CHECK(b.size() == 8 + n + 4);
      CHECK(parse(b).at(name).item<float>() == 1.f);
    }
  }

  TEST_CASE("serialize rejects what it cannot write") {
    CHECK_THROWS_WITH_AS(safetensors_serialize({{"__metadata__", ones({1})}}),
                         doctest::Contains("reserved"), glassbox::Error);
    CHECK_THROWS_WITH_AS(safetensors_serialize({{"u", Tensor()}}), doctest::Contains("undefined"),
                         glassbox::Error);
    // JSON strings must be UTF-8: a name or metadata that is not is an Error, not a JSON
    // library exception.
    CHECK_THROWS_AS(safetensors_serialize({{"bad\xff", ones({1})}}), glassbox::Error);
    CHECK_THROWS_AS(safetensors_serialize({{"x", ones({1})}}, {{"k", "\xc3"}}), glassbox::Error);
    CHECK_THROWS_AS(safetensors_serialize({{"x", ones({1})}}, {{"\xfe", "v"}}), glassbox::Error);
  }

  // ------------------------------------------------------------------ malformed input
  TEST_CASE("malformed files are Errors that name the problem") {
    const Bytes d8 = f32_bytes({1.f, 2.f});
    auto f32 = [](const std::string& name, const std::string& shape, const std::string& offsets) {
      return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape +
             ",\"data_offsets\":" + offsets + "}";
    };
    struct Case {
      const char* what;
      Bytes bytes;
      const char* message;
    };
    const Case cases[] = {
        {"empty file", {}, "too short"},
        {"7 bytes", {1, 0, 0, 0, 0, 0, 0}, "too short"},
        {"header length beyond the file", make_file(100, "{}"), "runs past the end"},
        {"header length 2^64-1", make_file(~uint64_t{0}, "{}"), "runs past the end"},
        {"header length 2^63", make_file(uint64_t{1} << 63, "{}"), "runs past the end"},
        {"header length one too many", make_file(3, "{}"), "runs past the end"},
        {"empty header", make_file(""), "not valid JSON"},
        {"header not JSON", make_file("not json at all"), "not valid JSON"},
        {"truncated JSON", make_file("{\"a\":{\"dtype\":"), "not valid JSON"},
        {"trailing garbage after JSON", make_file("{} x"), "not valid JSON"},
        {"NUL padding", make_file(std::string("{}\0\0\0\0\0\0", 8)), "NUL byte"},
        {"NUL hiding a second object",
         make_file(std::string("{}\0", 3) + "{" + f32("a", "[2]", "[0,8]") + "}", d8), "NUL byte"},
        {"invalid UTF-8 in header", make_file("{\"\xff\":1}"), "not valid JSON"},
        {"header is an array", make_file("[1,2]"), "must be a JSON object"},
        {"header is a string", make_file("\"str\""), "must be a JSON object"},
        {"header is null", make_file("null"), "must be a JSON object"},
        {"header is a number", make_file("8"), "must be a JSON object"},
        {"dtype F16",
         make_file("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
                   {0, 0, 0, 0}),
         "unknown or unsupported dtype \"F16\""},
        {"dtype X9",
         make_file("{\"a\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,1]}}", {0}),
         "unknown or unsupported dtype \"X9\""},
        {"dtype lower case",
         make_file("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                   {0, 0, 0, 0}),
         "unsupported dtype"},
        {"dtype not a string",
         make_file("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", {0, 0, 0, 0}),
         "unsupported dtype"},
        {"missing dtype", make_file("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d8),
         "needs dtype, shape and data_offsets"},
        {"missing shape", make_file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", d8),
         "needs dtype, shape and data_offsets"},
        {"missing data_offsets", make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", d8),
         "needs dtype, shape and data_offsets"},
        {"tensor entry not an object", make_file("{\"a\":5}", d8),
         "needs dtype, shape and data_offsets"},
        {"tensor entry an array", make_file("{\"a\":[\"F32\",[2],[0,8]]}", d8),
         "needs dtype, shape and data_offsets"},
        {"negative shape", make_file("{" + f32("a", "[-2]", "[0,8]") + "}", d8), "bad shape"},
        {"negative shape 0-size", make_file("{" + f32("a", "[0,-1]", "[0,0]") + "}"), "bad shape"},
        {"fractional shape", make_file("{" + f32("a", "[2.5]", "[0,8]") + "}", d8), "bad shape"},
        {"float-typed integer shape", make_file("{" + f32("a", "[2.0]", "[0,8]") + "}", d8),
         "bad shape"},
        {"string shape", make_file("{" + f32("a", "[\"2\"]", "[0,8]") + "}", d8), "bad shape"},
        {"null shape entry", make_file("{" + f32("a", "[null]", "[0,8]") + "}", d8), "bad shape"},
        {"shape not an array", make_file("{" + f32("a", "2", "[0,8]") + "}", d8),
         "shape is not an array"},
        {"huge shape", make_file("{" + f32("a", "[4294967296,4294967296]", "[0,8]") + "}", d8),
         "too large"},
        {"shape beyond int64 next to a zero",
         make_file("{" + f32("a", "[0,18446744073709551615]", "[0,0]") + "}"), "too large"},
        {"shape that overflows strides next to a zero",
         make_file("{" + f32("a", "[0,4611686018427387904,4611686018427387904]", "[0,0]") + "}"),
         "too large"},
        {"shape beyond uint64",
         make_file("{" + f32("a", "[18446744073709551616]", "[0,8]") + "}", d8), "bad shape"},
        {"end beyond the data", make_file("{" + f32("a", "[2]", "[0,8]") + "}", {0, 0, 0, 0}),
         "outside the 4-byte data section"},
        {"both offsets beyond the data", make_file("{" + f32("a", "[0]", "[9,9]") + "}", d8),
         "outside the 8-byte data section"},
        {"huge offsets", make_file("{" + f32("a", "[2]", "[18446744073709551608,0]") + "}", d8),
         "data_offsets"},
        {"begin > end", make_file("{" + f32("a", "[1]", "[8,4]") + "}", d8), "begin > end"},
        {"negative offset", make_file("{" + f32("a", "[2]", "[-8,0]") + "}", d8),
         "data_offsets must be two non-negative integers"},
        {"fractional offset", make_file("{" + f32("a", "[2]", "[0,8.5]") + "}", d8),
         "data_offsets must be two non-negative integers"},
        {"one offset", make_file("{" + f32("a", "[2]", "[8]") + "}", d8),
         "data_offsets must be two non-negative integers"},
        {"three offsets", make_file("{" + f32("a", "[2]", "[0,8,8]") + "}", d8),
         "data_offsets must be two non-negative integers"},
        {"offsets not an array", make_file("{" + f32("a", "[2]", "8") + "}", d8),
         "data_offsets must be two non-negative integers"},
        {"offsets as strings", make_file("{" + f32("a", "[2]", "[\"0\",\"8\"]") + "}", d8),
         "data_offsets must be two non-negative integers"},
        {"overlapping offsets",
         make_file("{" + f32("a", "[2]", "[0,8]") + "," + f32("b", "[2]", "[4,12]") + "}",
                   f32_bytes({1, 2, 3})),
         "overlaps"},
        {"identical offsets",
         make_file("{" + f32("a", "[2]", "[0,8]") + "," + f32("b", "[2]", "[0,8]") + "}", d8),
         "overlaps"},
        {"empty tensor inside another",
         make_file("{" + f32("a", "[2]", "[0,8]") + "," + f32("b", "[0]", "[4,4]") + "}", d8),
         "overlaps"},
        {"gap at the start", make_file("{" + f32("a", "[1]", "[4,8]") + "}", d8),
         "gap in the data section"},
        {"gap in the middle",
         make_file("{" + f32("a", "[1]", "[0,4]") + "," + f32("b", "[1]", "[8,12]") + "}",
                   f32_bytes({1, 2, 3})),
         "gap in the data section"},
        {"trailing bytes", make_file("{" + f32("a", "[1]", "[0,4]") + "}", d8),
         "data section is 8 bytes but the tensors cover 4"},
        {"data but no tensors", make_file("{}", {1}), "data section is 1 bytes"},
        {"too few bytes for the shape", make_file("{" + f32("a", "[3]", "[0,8]") + "}", d8),
         "has 8 bytes but shape [3]"},
        {"too many bytes for the shape", make_file("{" + f32("a", "[1]", "[0,8]") + "}", d8),
         "has 8 bytes but shape [1]"},
        {"0-d needs one element", make_file("{" + f32("a", "[]", "[0,0]") + "}"),
         "has 0 bytes but shape []"},
        {"BOOL byte 2",
         make_file("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", {1, 0, 2}),
         "BOOL byte 2"},
        {"BOOL byte 255",
         make_file("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", {255}),
         "BOOL byte 255"},
        {"metadata value a number", make_file("{\"__metadata__\":{\"epoch\":3}}"),
         "__metadata__ value for 'epoch' is not a string"},
        {"metadata value null", make_file("{\"__metadata__\":{\"k\":null}}"), "is not a string"},
        {"metadata value an object", make_file("{\"__metadata__\":{\"k\":{}}}"), "is not a string"},
        {"metadata not an object", make_file("{\"__metadata__\":[\"a\"]}"),
         "__metadata__ must be an object"},
        {"metadata partly valid", make_file("{\"__metadata__\":{\"a\":\"ok\",\"b\":1}}"),
         "value for 'b' is not a string"},
        {"valid metadata, bad tensor",
         make_file("{\"__metadata__\":{\"a\":\"ok\"}," + f32("t", "[3]", "[0,8]") + "}", d8),
         "has 8 bytes but shape [3]"},
        {"metadata a string", make_file("{\"__metadata__\":\"pt\"}"),
         "__metadata__ must be an object"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.what);
      std::string header =
          c.bytes.size() > 8 ? std::string(c.bytes.begin() + 8, c.bytes.end()) : std::string();
      CAPTURE(header);
      CHECK_THROWS_WITH_AS(parse(c.bytes), doctest::Contains(c.message), glassbox::Error);
      // Metadata is only handed back from a file that loads.
      Metadata meta;
      CHECK_THROWS_AS(parse(c.bytes, &meta), glassbox::Error);
      CHECK(meta.empty());
    }
  }

  TEST_CASE("errors name the source") {
    const Bytes bad = make_file("[]");
    CHECK_THROWS_WITH_AS(safetensors_parse(bad.data(), bad.size(), nullptr, "my_model.st"),
                         doctest::Contains("load_safetensors(my_model.st)"), glassbox::Error);
    CHECK_THROWS_WITH_AS(safetensors_parse(bad.data(), bad.size()), doctest::Contains("<memory>"),
                         glassbox::Error);
    CHECK_THROWS_AS(safetensors_parse(nullptr, 0), glassbox::Error);

    TempDir dir;
    const std::string path = dir.file("broken.safetensors");
    write_bytes(path, bad);
    CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(path.c_str()), glassbox::Error);
    write_bytes(path, {});
    CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains("too short"), glassbox::Error);
  }

  TEST_CASE("unreadable paths are Errors") {
    TempDir dir;
    CHECK_THROWS_WITH_AS(load_safetensors(dir.file("missing.safetensors")),
                         doctest::Contains("cannot open"), glassbox::Error);
    CHECK_THROWS_AS(load_safetensors(dir.file("no/such/dir/x.safetensors")), glassbox::Error);
    CHECK_THROWS_AS(load_safetensors(""), glassbox::Error);
    CHECK_THROWS_AS(load_safetensors(dir.path.string()), glassbox::Error);  // a directory
  }

  TEST_CASE("an empty tensor may sit at any offset inside the data section bounds") {
    // Zero-byte tensors at the start, between two tensors and at the end are fine.
    const std::string h = R"({"z0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                          R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("z1":{"dtype":"I64","shape":[0,2],"data_offsets":[4,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                          R"("z2":{"dtype":"BOOL","shape":[3,0],"data_offsets":[8,8]}})";
    TensorMap out = parse(make_file(h, f32_bytes({1.f, 2.f})));
    CHECK(out.size() == 5);
    CHECK(out["b"].item<float>() == 2.f);
    CHECK(out["z1"].shape() == Shape{0, 2});
    // An empty file with an empty header is valid.
    CHECK(parse(make_file("{}")).empty());
    CHECK(parse(make_file("{}      ")).empty());
  }

  // ------------------------------------------------------------------ hostile input
  TEST_CASE("a header of millions of tiny JSON values is refused while parsing") {
    // "0," is 2 bytes of text but 16 bytes parsed (80 as an object member): 100 MiB of them
    // would hold well over a gigabyte before any structural check, so the count is bounded.
    std::string many = R"({"__metadata__":{"k":"v"},"x":[)";
    for (size_t i = 0; i < (size_t{1} << 21); ++i) many += "0,";
    many += "0]}";
    CHECK_THROWS_WITH_AS(parse(make_file(many)),
                         doctest::Contains("header holds more than 2097152 JSON values"),
                         glassbox::Error);
    // well below the limit the same shape of header is judged for what it is
    CHECK_THROWS_WITH_AS(parse(make_file(R"({"x":[0,0,0]})")), doctest::Contains("tensor 'x'"),
                         glassbox::Error);
  }

  TEST_CASE("JSON nested 80,000 levels deep is a short Error, wherever it sits") {
    // The error path used to dump the untrusted value recursively: a stack overflow (SIGSEGV)
    // from a 160 KB file. The depth is now refused while parsing, and nothing is dumped.
    const size_t n = 80000;
    const std::string deep = rep(n, '[') + rep(n, ']');
    struct Case {
      const char* what;
      std::string header;
      size_t depth;
    };
    const Case cases[] = {
        {"shape", R"({"a":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,0]}})", n + 2},
        {"dtype", R"({"a":{"dtype":)" + deep + R"(,"shape":[],"data_offsets":[0,4]}})", n + 2},
        {"data_offsets", R"({"a":{"dtype":"F32","shape":[],"data_offsets":)" + deep + "}}", n + 2},
        {"metadata value", R"({"__metadata__":{"k":)" + deep + "}}", n + 2},
        {"tensor entry", R"({"a":)" + deep + "}", n + 1},
        {"objects",
         [n] {
           std::string h;
           for (size_t i = 0; i < n; ++i) h += "{\"a\":";
           return h + "1" + rep(n, '}');
         }(),
         n},
        {"the limit plus one", "{\"a\":" + rep(16, '[') + rep(16, ']') + "}", 17},
    };
    TempDir dir;
    const std::string path = dir.file("deep.safetensors");
    for (const Case& c : cases) {
      CAPTURE(c.what);
      const std::string want =
          str(": header nests JSON ", c.depth, " levels deep, the limit is 16");
      CHECK_THROWS_WITH_AS(parse(make_file(c.header)),
                           doctest::Contains(("load_safetensors(test.safetensors)" + want).c_str()),
                           glassbox::Error);
      write_bytes(path, make_file(c.header));
      try {
        (void)load_safetensors(path);
        FAIL("loaded");
      } catch (const glassbox::Error& e) {
        const std::string msg = e.what();
        CHECK(msg == "load_safetensors(" + path + ")" + want);
      }
    }
    // 16 levels are allowed (here the value is then refused for what it is, briefly)
    const std::string ok_depth = "{\"a\":{\"dtype\":\"F32\",\"shape\":" + rep(14, '[') +
                                 rep(14, ']') + ",\"data_offsets\":[0,0]}}";
    CHECK_THROWS_WITH_AS(parse(make_file(ok_depth)),
                         doctest::Contains("bad shape: dimension 0 is an array of 1 elements"),
                         glassbox::Error);
  }

  TEST_CASE("names and values in messages are cut short and cannot forge lines") {
    const std::string long_name = rep(5000, 'n');
    struct Case {
      const char* what;
      std::string header;
      std::string contains;
    };
    const Case cases[] = {
        {"long tensor name",
         "{\"" + long_name + R"(":{"dtype":"F16","shape":[],"data_offsets":[0,0]}})",
         "tensor '" + rep(100, 'n') + "...' has unknown or unsupported dtype \"F16\""},
        {"long dtype",
         R"({"a":{"dtype":")" + rep(5000, 'X') + R"(","shape":[],"data_offsets":[0,0]}})",
         "unsupported dtype \"" + rep(60, 'X') + "...\""},
        {"long metadata key", "{\"__metadata__\":{\"" + rep(5000, 'k') + "\":5}}",
         "value for '" + rep(100, 'k') + "...' is not a string (it is 5)"},
        {"long metadata value, a huge array",
         "{\"__metadata__\":{\"k\":[" +
             [] {
               std::string items = "1";
               for (int i = 0; i < 10000; ++i) items += ",1";
               return items;
             }() +
             "]}}",
         "value for 'k' is not a string (it is an array of 10001 elements)"},
        {"newline in a name", R"({"bad\nname":{"dtype":"F16","shape":[],"data_offsets":[0,0]}})",
         "tensor 'bad\\x0aname' has"},
        {"a tensor entry that is a long string", "{\"a\":\"" + rep(5000, 's') + "\"}",
         "needs dtype, shape and data_offsets (its entry is \"" + rep(60, 's') + "...\")"},
        {"65 dimensions",
         R"({"a":{"dtype":"U8","shape":[)" +
             [] {
               std::string d = "1";
               for (int i = 1; i < 65; ++i) d += ",1";
               return d;
             }() +
             R"(],"data_offsets":[0,1]}})",
         "has 65 dimensions, the limit is 64"},
        {"long shape in a size message",
         R"({"a":{"dtype":"U8","shape":[)" +
             [] {
               std::string d = "1";
               for (int i = 1; i < 64; ++i) d += ",1";
               return d;
             }() +
             R"(],"data_offsets":[0,0]}})",
         str("... of ", dtype_name(kUInt8), " needs 1")},
    };
    for (const Case& c : cases) {
      CAPTURE(c.what);
      try {
        (void)parse(make_file(c.header));
        FAIL("loaded");
      } catch (const glassbox::Error& e) {
        const std::string msg = e.what();
        CHECK_MESSAGE(msg.find(c.contains) != std::string::npos, msg);
        CHECK(msg.size() < 400);
        CHECK(msg.find('\n') == std::string::npos);
      }
    }
  }

  TEST_CASE("non-regular files are refused at once: devices, directories, FIFOs") {
    // /dev/zero used to be read until memory ran out, a FIFO blocked the open forever. Each
    // load runs in a child that is killed if it does not finish: a hang fails, it cannot stall.
    TempDir dir;
    const std::string fifo = dir.file("pipe.safetensors");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string link = dir.file("zero.safetensors");
    fs::create_symlink("/dev/zero", link);
    struct Case {
      std::string path;
      const char* kind;
    };
    const Case cases[] = {
        {"/dev/zero", "a character device"}, {"/dev/urandom", "a character device"},
        {"/dev/null", "a character device"}, {link, "a character device"},
        {dir.path.string(), "a directory"},  {fifo, "a FIFO"}};
    for (const Case& c : cases) {
      CAPTURE(c.path);
      const auto start = std::chrono::steady_clock::now();
      const Outcome o = load_in_child(c.path);
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      INFO(o.message);
      CHECK(o.finished);
      CHECK(o.error);
      CHECK(took < 10);
      const std::string want =
          "load_safetensors(" + c.path + "): not a regular file (" + c.kind + ")";
      CHECK(o.message.find(want) != std::string::npos);
    }
    // A FIFO with a writer that sends a valid file is refused too (a stream has no size to
    // check the header against), and the writer is not left hanging: it sees the pipe close.
    const Bytes valid = safetensors_serialize({{"x", ones({4})}});
    const int wfd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK);  // O_RDWR: no wait for a reader
    REQUIRE(wfd >= 0);
    CHECK(::write(wfd, valid.data(), valid.size()) == static_cast<ssize_t>(valid.size()));
    const Outcome o = load_in_child(fifo);  // in a child: a reader of the stream would block
    INFO(o.message);
    CHECK(o.error);
    CHECK(o.message.find("not a regular file (a FIFO)") != std::string::npos);
    ::close(wfd);
  }

  TEST_CASE("short, truncated, padded and sparse files are refused from their first bytes") {
    TempDir dir;
    const std::string path = dir.file("bad.safetensors");
    const std::string where = "load_safetensors(" + path + "): ";
    const Bytes valid = safetensors_serialize({{"a", ones({4})}, {"b", zeros({2})}});
    const uint64_t gib = uint64_t{1} << 30;
    struct Case {
      const char* what;
      std::function<void()> make;
      std::string message;
    };
    const std::string small = R"({"t":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})";
    const std::string huge_tensor =
        R"({"t":{"dtype":"U8","shape":[9663676416],"data_offsets":[0,9663676416]}})";
    const Case cases[] = {
        {"empty file", [&] { write_bytes(path, {}); }, "file is 0 bytes, too short"},
        {"7 bytes",
         [&] {
           write_bytes(path, {8, 0, 0, 0, 0, 0, 0});
         },
         "file is 7 bytes, too short"},
        {"cut inside the header",
         [&] { write_bytes(path, Bytes(valid.begin(), valid.begin() + 20)); },
         "runs past the end of the file (20 bytes)"},
        {"cut inside the data", [&] { write_bytes(path, Bytes(valid.begin(), valid.end() - 1)); },
         "fall outside the 23-byte data section"},
        {"one byte appended",
         [&] {
           Bytes b = valid;
           b.push_back(0);
           write_bytes(path, b);
         },
         "data section is 25 bytes but the tensors cover 24"},
        {"8 GiB sparse, header declares 9 GiB of data",
         [&] { write_sparse(path, make_file(huge_tensor), 8 * gib); }, "-byte data section"},
        {"8 GiB sparse, header declares 8 bytes of data",
         [&] { write_sparse(path, make_file(small), 8 * gib); },
         str("data section is ", 8 * gib - 8 - small.size(), " bytes but the tensors cover 8")},
        {"8 GiB sparse, 4 GiB header length",
         [&] { write_sparse(path, make_file(4 * gib, "{}"), 8 * gib); },
         "header length 4294967296 exceeds the 100 MiB limit"},
        {"8 GiB sparse, all zero", [&] { write_sparse(path, {}, 8 * gib); },
         "header is not valid JSON"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.what);
      c.make();
      const auto start = std::chrono::steady_clock::now();
      const Outcome o = load_in_child(path);
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      INFO(o.message);
      CHECK(o.finished);
      CHECK(o.error);
      CHECK(took < 10);
      CHECK(o.message.rfind(where, 0) == 0);
      CHECK(o.message.find(c.message) != std::string::npos);
    }
  }

  TEST_CASE("a file that shrinks or grows while it is read: the whole file or an Error naming it") {
    // A second thread cuts the file to half its size (or appends to it) while the main thread
    // loads it, then restores it. Every load must return the exact file or throw an Error that
    // names the file; never other bytes (the file has no CRC, like PyTorch's, so only the size
    // checks stand between a torn read and wrong weights). Which outcome a load gets depends on
    // timing; both kinds are counted and reported.
    TempDir dir;
    const std::string path = dir.file("moving.safetensors");
    const Tensor big = arange(0., double(1 << 22)).view({1024, 4096});  // 16 MiB of float32
    const Bytes file = without_checksums(safetensors_serialize({{"big", big}}));
    write_bytes(path, file);
    REQUIRE(load_safetensors(path).at("big").to_vector<float>() == big.to_vector<float>());
    const std::vector<float> want = big.to_vector<float>();
    int whole_loads = 0, changed = 0, other = 0;
    std::map<std::string, int> kinds;  // what the errors said, past the file's name
    std::string first_other;
    for (int round = 0; round < 24; ++round) {
      std::atomic<bool> go{false};
      std::thread mover([&] {
        while (!go) std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::microseconds(1500 * (round % 12)));
        if (round % 2 == 0) {
          (void)::truncate(path.c_str(), static_cast<off_t>(file.size() / 2));
        } else {
          std::ofstream f(path, std::ios::binary | std::ios::app);
          f << "appended";
        }
      });
      go = true;
      try {
        const TensorMap got = load_safetensors(path);
        if (got.at("big").to_vector<float>() == want)
          ++whole_loads;
        else if (!other++)
          first_other = "a load returned other bytes";
      } catch (const glassbox::Error& e) {
        const std::string msg = e.what();
        const std::string where = "load_safetensors(" + path + "): ";
        if (msg.rfind(where, 0) == 0) {
          ++changed;
          ++kinds[msg.substr(where.size(), 16)];
        } else if (!other++)
          first_other = msg;
      }
      mover.join();
      write_bytes(path, file);
    }
    std::string said;
    for (const auto& [kind, count] : kinds) said += str("\n  ", count, " x ", kind, "...");
    MESSAGE("whole loads: ", whole_loads, ", errors: ", changed, said);
    INFO(first_other);
    CHECK(other == 0);
    CHECK(whole_loads + changed == 24);
  }

  // ------------------------------------------------------------------ integrity of the header
  TEST_CASE("the writer records the header's CRC-32 of its canonical text") {
    const TensorMap in{{"x", from_vector<float>({1.f, 2.f}, {2})}};
    const Bytes b = safetensors_serialize(in, {{"k", "v"}});
    const Bytes data = data_of(b);
    const std::string data_crc = hex8(reference_crc32(data.data(), data.size()));
    // the header object minus the header key, keys sorted, compact
    const std::string canonical = R"({"__metadata__":{"glassbox.crc32":")" + data_crc +
                                  R"(","k":"v"},"x":{"data_offsets":[0,8],"dtype":"F32",)"
                                  R"("shape":[2]}})";
    const std::string want =
        hex8(reference_crc32(reinterpret_cast<const uint8_t*>(canonical.data()), canonical.size()));
    CHECK(field_of(entry_of(header_of(b), "__metadata__"), "glassbox.header_crc32") == want);
    // the key is the library's: not handed back, and a caller's value for it is replaced
    Metadata meta;
    (void)parse(b, &meta);
    CHECK(meta == Metadata{{"k", "v"}});
    CHECK(safetensors_serialize(in, {{"k", "v"}, {"glassbox.header_crc32", "deadbeef"}}) == b);
    // the same header laid out differently (spaces, another key order) is the same header
    const std::string spaced =
        "{ \"x\" : {\"shape\": [ 2 ], \"dtype\": \"F32\", \"data_offsets\": "
        "[0, 8]}, \"__metadata__\": {\"k\": \"v\", \"glassbox.crc32\": \"" +
        data_crc + "\", \"glassbox.header_crc32\": \"" + want + "\"}}";
    Metadata meta2;
    CHECK(parse(make_file(spaced, data), &meta2).at("x").to_vector<float>() ==
          std::vector<float>{1.f, 2.f});
    CHECK(meta2 == Metadata{{"k", "v"}});
  }

  TEST_CASE("an edited header is an Error naming the file; nothing is returned") {
    TempDir dir;
    const std::string path = dir.file("edited.safetensors");
    const Bytes good = safetensors_serialize(
        {{"a", arange(0., 6.).view({2, 3})}, {"b", arange(6., 12.).view({2, 3})}},
        {{"epoch", "7"}, {"lr", "0.1"}});
    write_bytes(path, good);
    REQUIRE(load_safetensors(path).size() == 2);
    struct Case {
      const char* what;
      std::string from, to;
    };
    const Case cases[] = {
        {"a metadata value", "\"epoch\":\"7\"", "\"epoch\":\"8\""},
        {"a metadata key", "\"lr\":", "\"LR\":"},
        {"a shape", "\"shape\":[2,3]", "\"shape\":[3,2]"},
        {"offsets swapped", "[0,24]", "[24,0]"},  // then fixed up below
        {"a tensor name", "\"a\":{", "\"c\":{"},
        {"the data checksum", "\"glassbox.crc32\":\"", "\"glassbox.crc32\":\"0"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.what);
      Bytes bad = edit_header(good, c.from, c.to);
      if (std::string(c.what) == "offsets swapped")  // a: [24,48], b: [0,24]: still valid
        bad = edit_header(edit_header(edit_header(good, "[0,24]", "[X]"), "[24,48]", "[0,24]"),
                          "[X]", "[24,48]");
      write_bytes(path, bad);
      Metadata meta;
      const std::string want = "load_safetensors(" + path +
                               "): the header was changed after it was written: its CRC-32 is ";
      CHECK_THROWS_WITH_AS(load_safetensors(path, &meta), doctest::Contains(want.c_str()),
                           glassbox::Error);
      CHECK(meta.empty());
    }
    // a header checksum that is not 8 hex digits is an Error, whatever its type
    for (const std::string& v : {std::string("\"1234567\""), std::string("\"zzzzzzzz\""),
                                 std::string("12345678"), std::string("[1]")}) {
      CAPTURE(v);
      const std::string key = "\"glassbox.header_crc32\":";
      const std::string h = header_of(good);
      const size_t at = h.find(key);
      REQUIRE(at != std::string::npos);
      const Bytes bad = edit_header(good, h.substr(at, key.size() + 10), key + v);
      CHECK_THROWS_WITH_AS(parse(bad),
                           doctest::Contains("'glassbox.header_crc32' must be 8 hex digits, got"),
                           glassbox::Error);
    }
    // without the key (another writer's file), an edit is not detected: a CRC is no signature
    Metadata meta;
    CHECK(parse(edit_header(without_header_crc(good), "\"epoch\":\"7\"", "\"epoch\":\"8\""), &meta)
              .size() == 2);
    CHECK(meta.at("epoch") == "8");
  }

  // ------------------------------------------------------------------ saving under faults
  TEST_CASE("a failed write names the target, removes the temporary, keeps the old file") {
    // A file-size limit makes write() fail with EFBIG part-way, as a full disk fails with
    // ENOSPC; the save runs in a child so the limit does not outlive it.
    TempDir dir;
    const std::string path = dir.file("run.ckpt");
    save_safetensors(path, {{"old", ones({2})}});
    const Bytes before = read_bytes(path);
    const Tensor big = ones({100000});  // made here: a forked child must not start kernels
    const Outcome o = in_child(
        [&] {
          save_safetensors(path, {{"new", big}});
        },
        60,
        [] {
          ::signal(SIGXFSZ, SIG_IGN);
          const rlimit fsize{65536, 65536};
          ::setrlimit(RLIMIT_FSIZE, &fsize);
        });
    INFO(o.message);
    CHECK(o.finished);
    CHECK(o.error);
    CHECK(o.message.rfind("save_safetensors: cannot write " + path + ": " + std::strerror(EFBIG) +
                              " (while writing the temporary " + path + ".tmp.",
                          0) == 0);
    CHECK(dir.entries() == std::vector<std::string>{"run.ckpt"});
    CHECK(read_bytes(path) == before);
  }

  TEST_CASE("two processes saving to one path while another loads it: always one whole file") {
    // Each child saves its own contents (different sizes and metadata) to the same path over
    // and over; the parent loads the path as fast as it can meanwhile. Every load must be one
    // save's file entire: never a mix, never a torn file, never a CRC error.
    TempDir dir;
    const std::string path = dir.file("shared.safetensors");
    const Tensor a = full({1000, 64}, 1.0), b = full({333, 7}, -2.0, dtype(kFloat64));
    save_safetensors(path, {{"t", a}}, {{"who", "a"}});
    const int saves = 60;
    std::vector<pid_t> children;
    for (int who = 0; who < 2; ++who) {
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        try {
          for (int i = 0; i < saves; ++i)
            save_safetensors(path, {{"t", who ? b : a}}, {{"who", who ? "b" : "a"}});
        } catch (...) {
          ::_exit(2);
        }
        ::_exit(0);
      }
      children.push_back(pid);
    }
    int loads = 0, seen_a = 0, seen_b = 0, bad = 0;
    std::string first_bad;
    std::vector<int> statuses;
    auto reap = [&](int flags) {  // collects the children that have ended
      for (pid_t& pid : children) {
        int status = 0;
        if (pid > 0 && ::waitpid(pid, &status, flags) == pid) {
          statuses.push_back(status);
          pid = 0;
        }
      }
      return statuses.size() == 2;
    };
    for (bool ended = false; !ended || loads < 20;) {
      ended = reap(WNOHANG);
      try {
        Metadata meta;
        const TensorMap got = load_safetensors(path, &meta);
        const bool is_a = meta.at("who") == "a";
        if (got.size() == 1 && equal(got.at("t"), is_a ? a : b))
          ++(is_a ? seen_a : seen_b);
        else if (!bad++)
          first_bad = "a load mixed the two saves";
      } catch (const std::exception& e) {
        if (!bad++) first_bad = e.what();
      }
      ++loads;
    }
    reap(0);
    MESSAGE(loads, " loads: ", seen_a, " of a, ", seen_b, " of b");
    INFO(first_bad);
    CHECK(bad == 0);
    for (int status : statuses) CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(dir.entries() == std::vector<std::string>{"shared.safetensors"});
  }

  // ------------------------------------------------------------------ fuzzing
  TEST_CASE("fuzz: truncated and corrupted files either load or throw Error") {
    Bytes valid = safetensors_serialize(sample_tensors(), {{"format", "pt"}, {"k", "v"}});
    const uint64_t header_len = read_le64(valid);
    REQUIRE(8 + header_len <= valid.size());

    size_t loaded = 0, rejected = 0, other = 0;
    std::string first_other;
    // `what` is only called to describe an unexpected outcome.
    auto attempt = [&](const Bytes& b, auto what) {
      try {
        TensorMap out = safetensors_parse(b.data(), b.size());
        // Whatever loads must be self-consistent and fit in the input.
        size_t total = 0;
        for (const auto& [name, t] : out) {
          for (int64_t d : t.shape())
            if (d < 0) throw std::logic_error("negative dimension in '" + name + "'");
          if (t.numel() < 0) throw std::logic_error("negative numel");
          total += t.nbytes();
        }
        if (total > b.size()) throw std::logic_error("tensors larger than the file");
        ++loaded;
      } catch (const glassbox::Error&) {
        ++rejected;
      } catch (const std::exception& e) {
        if (!other++) first_other = what() + ": " + e.what();
      } catch (...) {
        if (!other++) first_other = what() + ": unknown exception";
      }
    };

    // (a) every truncation
    for (size_t n = 0; n < valid.size(); ++n)
      attempt(Bytes(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n)),
              [&] { return "truncated to " + std::to_string(n); });
    CHECK(loaded == 0);  // every strict prefix is invalid (the data section is covered exactly)

    // (b) each byte of the length field and the header, set to a few different values: NUL,
    // 0xFF, an off-by-one (a digit, a letter's case), and two JSON-significant characters
    // taken in turn from a list, so that every one of them lands on many positions.
    const uint8_t syntax[] = {'"', ',', ':', '[', ']',  '{', '}',
                              '-', '0', '9', ' ', '\\', '.', 0x80};
    const size_t ns = sizeof syntax;
    for (size_t i = 0; i < 8 + header_len; ++i) {
      const uint8_t vs[] = {0x00, 0xFF, static_cast<uint8_t>(valid[i] ^ 0x01), syntax[i % ns],
                            syntax[(i / ns + i + 7) % ns]};
      for (uint8_t v : vs) {
        if (valid[i] == v) continue;
        Bytes b = valid;
        b[i] = v;
        attempt(b, [&] { return "byte " + std::to_string(i) + " := " + std::to_string(v); });
      }
    }
    // (c) the data section: every changed byte there is caught by the CRC-32
    const size_t loaded_before_data = loaded;
    for (size_t i = 8 + header_len; i < valid.size(); ++i) {
      for (uint8_t v : {uint8_t{0x02}, uint8_t{0xFF}}) {
        if (valid[i] == v) continue;
        Bytes b = valid;
        b[i] = v;
        attempt(b, [&] { return "data byte " + std::to_string(i) + " := " + std::to_string(v); });
      }
    }
    CHECK(loaded == loaded_before_data);
    // (d) random multi-byte damage with a fixed seed
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 400; ++iter) {
      Bytes b = valid;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t i = rng() % b.size();
        switch (rng() % 3) {
          case 0:
            b[i] = static_cast<uint8_t>(rng());
            break;
          case 1:
            b.erase(b.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          default:
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(i), static_cast<uint8_t>(rng()));
        }
        if (b.empty()) break;
      }
      attempt(b, [&] { return "random iteration " + std::to_string(iter); });
    }

    INFO("first unexpected outcome: ", first_other);
    CHECK(other == 0);
    CHECK(rejected > 0);
    CHECK(loaded > 0);  // e.g. a changed value byte, or whitespace swaps, still load
  }

  // ------------------------------------------------------------------ integrity (CRC-32)
  TEST_CASE("the writer records the data section's CRC-32 and the reader hides the key") {
    TensorMap in = sample_tensors();
    Bytes b = safetensors_serialize(in, {{"format", "pt"}});
    const size_t start = data_start(b);
    const std::string header(b.begin() + 8, b.begin() + static_cast<std::ptrdiff_t>(start));
    const std::string want = hex8(reference_crc32(b.data() + start, b.size() - start));
    CHECK(field_of(entry_of(header, "__metadata__"), "glassbox.crc32") == want);
    Metadata meta;
    TensorMap out = parse(b, &meta);
    CHECK(meta == Metadata{{"format", "pt"}});  // the checksum is not handed back
    for (const auto& [name, t] : in) check_same(out, name, t);

    // A caller's value for the key is replaced by the real checksum.
    Bytes forged = safetensors_serialize(in, {{"format", "pt"}, {"glassbox.crc32", "deadbeef"}});
    CHECK(forged == b);

    // So a load-then-save round trip writes the same file again.
    TempDir dir;
    const std::string path = dir.file("round.safetensors");
    save_safetensors(path, in, {{"format", "pt"}});
    Metadata meta2;
    TensorMap again = load_safetensors(path, &meta2);
    save_safetensors(path, again, meta2);
    CHECK(read_bytes(path) == b);
  }

  TEST_CASE("a flipped bit in the data section is a clear CRC error, never wrong weights") {
    TempDir dir;
    const std::string path = dir.file("weights.safetensors");
    TensorMap in{{"w", arange(0., 1000.).view({10, 100})}, {"b", from_vector<double>({1, 2}, {2})}};
    save_safetensors(path, in);
    const Bytes good = read_bytes(path);
    const size_t start = data_start(good);
    const std::string recorded = hex8(reference_crc32(good.data() + start, good.size() - start));
    for (size_t at : {start, start + 1234, good.size() - 1}) {
      for (uint8_t bit : {uint8_t{0x01}, uint8_t{0x80}}) {
        CAPTURE(at);
        Bytes bad = good;
        bad[at] ^= bit;
        write_bytes(path, bad);
        const std::string found = hex8(reference_crc32(bad.data() + start, bad.size() - start));
        const std::string message = "load_safetensors(" + path + "): the data is damaged: the " +
                                    std::to_string(good.size() - start) +
                                    "-byte data section has CRC-32 " + found +
                                    " but the file records " + recorded + " (glassbox.crc32)";
        CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(message.c_str()),
                             glassbox::Error);
        Metadata meta;
        CHECK_THROWS_AS(parse(bad, &meta), glassbox::Error);
        CHECK(meta.empty());  // nothing is handed back from a damaged file
      }
    }
    write_bytes(path, good);
    CHECK(load_safetensors(path).at("w").to_vector<float>() == in["w"].to_vector<float>());
  }

  TEST_CASE("a malformed checksum value is an Error; upper-case hex is accepted") {
    const Bytes b = safetensors_serialize({{"x", from_vector<float>({1.f, 2.f}, {2})}});
    for (const char* bad :
         {"", "1234567", "123456789", "xyzxyzxy", "0x123456", " 1234567", "1234567g", "-1234567"}) {
      CAPTURE(bad);
      CHECK_THROWS_WITH_AS(parse(with_crc_value(b, bad)),
                           doctest::Contains("'glassbox.crc32' must be 8 hex digits"),
                           glassbox::Error);
    }
    const size_t start = data_start(b);
    const std::string lower = hex8(reference_crc32(b.data() + start, b.size() - start));
    std::string upper = lower;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    Metadata meta;
    CHECK(parse(with_crc_value(b, upper), &meta).at("x").to_vector<float>() ==
          std::vector<float>{1.f, 2.f});
    CHECK(meta.empty());
    // a well-formed but wrong value is damage, not a format error
    CHECK_THROWS_WITH_AS(parse(with_crc_value(b, "00000000")),
                         doctest::Contains("the data is damaged"), glassbox::Error);
    // a non-string value is rejected like any other metadata value
    std::string header = header_of(without_header_crc(b));
    const std::string quoted = "\"" + lower + "\"";
    REQUIRE(header.find(quoted) != std::string::npos);
    header.replace(header.find(quoted), quoted.size(), "12345678");
    CHECK_THROWS_WITH_AS(
        parse(make_file(header, Bytes(b.begin() + static_cast<std::ptrdiff_t>(start), b.end()))),
        doctest::Contains("value for 'glassbox.crc32' is not a string"), glassbox::Error);
  }

  TEST_CASE("files without a checksum (other writers) load") {
    // What PyTorch's safetensors writes: metadata without our key.
    const std::string h =
        R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    Metadata meta;
    TensorMap out = parse(make_file(h, f32_bytes({1.5f, -2.f})), &meta);
    CHECK(meta == Metadata{{"format", "pt"}});
    CHECK(out.at("w").to_vector<float>() == std::vector<float>{1.5f, -2.f});
    // Our own file with the keys taken out loads too.
    TempDir dir;
    const std::string path = dir.file("nokey.safetensors");
    const Bytes b = without_header_crc(safetensors_serialize({{"w", ones({3})}}, {{"k", "v"}}));
    std::string header(b.begin() + 8, b.begin() + static_cast<std::ptrdiff_t>(data_start(b)));
    const std::string entry =  // keys are sorted: "k" follows ours
        "\"glassbox.crc32\":\"" +
        hex8(reference_crc32(b.data() + data_start(b), b.size() - data_start(b))) + "\",";
    REQUIRE(header.find(entry) != std::string::npos);
    header.erase(header.find(entry), entry.size());
    write_bytes(
        path,
        make_file(header, Bytes(b.begin() + static_cast<std::ptrdiff_t>(data_start(b)), b.end())));
    Metadata meta2;
    CHECK(load_safetensors(path, &meta2).at("w").to_vector<float>() ==
          std::vector<float>{1.f, 1.f, 1.f});
    CHECK(meta2 == Metadata{{"k", "v"}});
  }

  // ------------------------------------------------------------------ atomic save
  TEST_CASE("save replaces an existing file atomically and leaves no temporaries") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    save_safetensors(path, {{"a", from_vector<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {6})}},
                     {{"v", "1"}});
    REQUIRE(fs::exists(path));
    const auto first_size = fs::file_size(path);

    save_safetensors(path, {{"b", scalar_tensor(7, dtype(kInt64))}}, {{"v", "2"}});
    Metadata meta;
    TensorMap out = load_safetensors(path, &meta);
    CHECK(out.size() == 1);
    CHECK(out.count("a") == 0);
    CHECK(out.at("b").item<int64_t>() == 7);
    CHECK(meta == Metadata{{"v", "2"}});
    CHECK(fs::file_size(path) != first_size);  // replaced, not appended to or left stale
    CHECK(read_bytes(path) ==
          safetensors_serialize({{"b", scalar_tensor(7, dtype(kInt64))}}, {{"v", "2"}}));
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});

    // A failed save (serialisation error) leaves the old file untouched and no temporary.
    const Bytes before = read_bytes(path);
    CHECK_THROWS_AS(save_safetensors(path, {{"__metadata__", ones({1})}}), glassbox::Error);
    CHECK(read_bytes(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});

    for (const auto& name : dir.entries()) CHECK(name.find(".tmp.") == std::string::npos);
  }

  TEST_CASE("save into a missing directory or over a directory throws Error") {
    TempDir dir;
    const std::string missing = "save_safetensors: cannot write " +
                                dir.file("no/such/dir/x.safetensors") +
                                ": No such file or directory (while creating the temporary ";
    CHECK_THROWS_WITH_AS(
        save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"a", ones({1})}}),
        doctest::Contains(missing.c_str()), glassbox::Error);
    CHECK_FALSE(fs::exists(dir.path / "no"));
    CHECK(dir.entries().empty());

    // A directory at the target is refused before anything is written: it stays, and no
    // temporary is left.
    fs::create_directory(dir.path / "taken");
    const std::string taken = "save_safetensors: cannot write " + dir.file("taken") +
                              ": it exists and is not a regular file (a directory); nothing was "
                              "written";
    CHECK_THROWS_WITH_AS(save_safetensors(dir.file("taken"), {{"a", ones({1})}}),
                         doctest::Contains(taken.c_str()), glassbox::Error);
    CHECK(fs::is_directory(dir.path / "taken"));
    CHECK(dir.entries() == std::vector<std::string>{"taken"});
  }

  TEST_CASE("a save killed midway leaves the previous version loadable") {
    // A child process saves two 8 MB tensors to one path over and over, each save tagged with
    // its iteration, and reports each completed save through a pipe. It is SIGKILLed at
    // different points of a save: as soon as its temporary file appears, once half the data is
    // in it, once all of it is (fsync / rename), and at two fractions of a save's duration.
    // Whatever is on disk must load, pass its CRC, and be one whole version: both tensors and
    // the metadata from the same save.
    TempDir dir;
    const std::string path = dir.file("ckpt.safetensors");
    const std::string tmp_prefix = "ckpt.safetensors.tmp.";
    const int64_t n = int64_t{2} << 20;                            // 2M float32 = 8 MB per tensor
    const uint64_t file_bytes = 2 * static_cast<uint64_t>(n) * 4;  // plus the header
    // size of the largest temporary in the folder, or -1 when there is none
    auto temp_size = [&]() -> int64_t {
      int64_t best = -1;
      std::error_code ec;
      for (fs::directory_iterator it(dir.path, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().filename().string().rfind(tmp_prefix, 0) != 0) continue;
        std::error_code ec2;
        const auto size = fs::file_size(it->path(), ec2);
        if (!ec2) best = std::max(best, static_cast<int64_t>(size));
      }
      return best;
    };
    const int64_t kill_at_size[] = {0, static_cast<int64_t>(file_bytes / 2),
                                    static_cast<int64_t>(file_bytes), -1, -1};
    const double kill_at_fraction[] = {0, 0, 0, 0.35, 0.8};
    int left_temporaries = 0;
    for (int round = 0; round < 5; ++round) {
      CAPTURE(round);
      int fds[2];
      REQUIRE(::pipe(fds) == 0);
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {  // the child: save until killed; it never returns into doctest
        ::close(fds[0]);
        try {
          std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
          for (int64_t it = 0;; ++it) {
            const float tag = static_cast<float>(round * 100000 + it + 1);
            std::fill(a.begin(), a.end(), tag);
            std::fill(b.begin(), b.end(), -tag);
            save_safetensors(path,
                             {{"a", from_blob(a.data(), {n}, kFloat32)},
                              {"b", from_blob(b.data(), {n / 2, 2}, kFloat32)}},
                             {{"iteration", std::to_string(it)}, {"round", std::to_string(round)}});
            const char saved = 1;
            if (::write(fds[1], &saved, 1) != 1) ::_exit(3);
          }
        } catch (...) {
          ::_exit(2);
        }
        ::_exit(1);
      }
      ::close(fds[1]);
      // Wait for two complete saves (so a previous version exists and a save's duration is
      // known), then for the moment to kill. Nothing here may leave the scope with the child
      // running: failures are recorded and checked after the kill.
      char saved[2] = {0, 0};
      const bool first = read_full(fds[0], saved, 1) == 1;
      const auto t1 = std::chrono::steady_clock::now();
      const bool second = first && read_full(fds[0], saved + 1, 1) == 1;
      const auto t2 = std::chrono::steady_clock::now();
      bool reached = true;
      if (second && kill_at_size[round] >= 0) {
        const auto deadline = t2 + std::chrono::seconds(20);
        while (temp_size() < kill_at_size[round]) {
          if (std::chrono::steady_clock::now() > deadline) {
            reached = false;
            break;
          }
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      } else if (second) {
        std::this_thread::sleep_for((t2 - t1) * kill_at_fraction[round]);
      }
      ::kill(pid, SIGKILL);
      ::close(fds[0]);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      REQUIRE(first);
      REQUIRE(second);
      CHECK(reached);
      CHECK(WIFSIGNALED(status));  // it was killed while saving, not ended by an error
      if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGKILL);
      if (temp_size() >= 0) ++left_temporaries;

      Metadata meta;
      TensorMap out;
      REQUIRE_NOTHROW(out = load_safetensors(path, &meta));
      REQUIRE(meta.count("iteration") == 1);
      CHECK(meta.at("round") == std::to_string(round));
      const int64_t iteration = std::stoll(meta.at("iteration"));
      CHECK(iteration >= 1);
      const float tag = static_cast<float>(round * 100000 + iteration + 1);
      REQUIRE(out.size() == 2);
      REQUIRE(out.at("a").numel() == n);
      REQUIRE(out.at("b").numel() == n);
      const std::vector<float> va = out.at("a").to_vector<float>();
      const std::vector<float> vb = out.at("b").to_vector<float>();
      CHECK(std::all_of(va.begin(), va.end(), [tag](float v) { return v == tag; }));
      CHECK(std::all_of(vb.begin(), vb.end(), [tag](float v) { return v == -tag; }));
    }
    // The kills that landed while a temporary existed (at least the first one) left it behind,
    // and only it; the next save removes those of dead saves.
    CHECK(left_temporaries >= 1);
    for (const std::string& name : dir.entries()) {
      CAPTURE(name);
      CHECK((name == "ckpt.safetensors" || name.rfind(tmp_prefix, 0) == 0));
    }
    save_safetensors(path, {{"a", ones({1})}});
    CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
  }

  TEST_CASE("a save removes the temporaries of dead saves of its file, and nothing else") {
    TempDir dir;
    const std::string path = dir.file("m.safetensors");
    // left by killed saves: nobody holds a lock on them
    write_bytes(dir.file("m.safetensors.tmp.4194301.0"), {1, 2, 3});
    write_bytes(dir.file("m.safetensors.tmp.12.345"), {});
    // a live save's temporary: its saver holds an flock on it
    const std::string live = dir.file("m.safetensors.tmp.7.8");
    write_bytes(live, {1});
    const int fd = ::open(live.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    // not temporaries of this file: left alone
    const std::vector<std::string> others = {
        "other.safetensors.tmp.1.2", "m.safetensors.tmp.1",  "m.safetensors.tmp.1.2.bak",
        "m.safetensors.tmp.x.2",     "m.safetensors.tmp..2", "m.safetensors.tmp.1.",
        "xm.safetensors.tmp.1.2",    "m.safetensors.tmp.5.5"};  // a directory, below
    for (size_t i = 0; i + 1 < others.size(); ++i) write_bytes(dir.file(others[i]), {9});
    fs::create_directory(dir.path / others.back());
    fs::create_symlink(dir.file("other.safetensors.tmp.1.2"), dir.path / "m.safetensors.tmp.6.6");

    save_safetensors(path, {{"x", ones({2})}});
    std::vector<std::string> want = others;
    want.push_back("m.safetensors");
    want.push_back("m.safetensors.tmp.7.8");
    want.push_back("m.safetensors.tmp.6.6");
    std::sort(want.begin(), want.end());
    std::vector<std::string> got = dir.entries();
    std::sort(got.begin(), got.end());
    CHECK(got == want);
    CHECK(read_bytes(live) == Bytes{1});

    // once its saver is gone (the lock released), the next save removes it too
    ::close(fd);
    save_safetensors(path, {{"x", ones({3})}});
    CHECK_FALSE(fs::exists(live));
    CHECK(load_safetensors(path).at("x").numel() == 3);
  }
}
