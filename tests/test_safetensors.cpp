// Tests for the safetensors reader/writer (core/safetensors.h): round trips through files,
// the exact on-disk layout, every class of malformed input, fuzzing the parser, and the
// atomic save. Malformed files are built byte by byte here, not with the writer under test.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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

// The same file with the header's "glassbox.crc32" value replaced by `value` (same length keeps
// the header length; a different length rebuilds the file around the new header).
Bytes with_crc_value(const Bytes& b, const std::string& value) {
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
    Tensor base = arange(0, 12).view({3, 4});
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
    // the only metadata written is the checksum of the (empty) data section
    CHECK(header.find(R"("__metadata__":{"glassbox.crc32":"00000000"})") != std::string::npos);
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

  TEST_CASE("load reads a pipe to its end") {
    // A FIFO has no size up front; the loader must read until EOF (more than a pipe buffer).
    TempDir dir;
    const std::string fifo = dir.file("pipe.safetensors");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    Tensor big = arange(0, 50000);  // 200 KB of float32
    const Bytes bytes = safetensors_serialize({{"big", big}}, {{"via", "fifo"}});
    std::thread writer([&] {
      // Non-blocking open fails with ENXIO until the reader is there: never hang the test.
      int fd = -1;
      for (int i = 0; i < 5000 && fd < 0; ++i) {
        fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (fd < 0) return;
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      size_t done = 0;
      while (done < bytes.size()) {
        ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (w <= 0) break;
        done += static_cast<size_t>(w);
      }
      ::close(fd);
    });
    Metadata meta;
    TensorMap out;
    CHECK_NOTHROW(out = load_safetensors(fifo, &meta));
    writer.join();
    CHECK(meta == Metadata{{"via", "fifo"}});
    check_same(out, "big", big);
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

  TEST_CASE("deeply nested JSON is rejected without blowing the stack") {
    const size_t depth = 50000;
    std::string h = "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
    CHECK_THROWS_WITH_AS(parse(make_file(h)), doctest::Contains("needs dtype"), glassbox::Error);
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
    TensorMap in{{"w", arange(0, 1000).view({10, 100})}, {"b", from_vector<double>({1, 2}, {2})}};
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
    std::string header(b.begin() + 8, b.begin() + static_cast<std::ptrdiff_t>(start));
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
    // Our own file with the key taken out loads too.
    TempDir dir;
    const std::string path = dir.file("nokey.safetensors");
    const Bytes b = safetensors_serialize({{"w", ones({3})}}, {{"k", "v"}});
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
    CHECK_THROWS_WITH_AS(
        save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"a", ones({1})}}),
        doctest::Contains("cannot create"), glassbox::Error);
    CHECK_FALSE(fs::exists(dir.path / "no"));
    CHECK(dir.entries().empty());

    // Renaming a file over a directory fails: the directory stays and no temporary is left.
    fs::create_directory(dir.path / "taken");
    CHECK_THROWS_WITH_AS(save_safetensors(dir.file("taken"), {{"a", ones({1})}}),
                         doctest::Contains("cannot rename"), glassbox::Error);
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
