// The safetensors reader and writer (see safetensors.h for the format and its limits).
//
// One validation for both sources: parse_header() takes the header text and the size of the
// data section that follows it, and checks everything the header claims (JSON depth, entry
// fields, shapes, offsets inside the data section and covering it exactly, the header CRC)
// before a single tensor byte is touched. safetensors_parse() then checks the data CRC over the
// bytes it was given; load_safetensors() learns the sizes from fstat and the first 8 bytes, so
// it reads exactly the header and then the data, straight into each tensor's storage.
//
// Messages never echo an untrusted value whole: `clip` (core/error.h) cuts names and strings to 100
// characters (escaping control characters, so a name cannot forge a second line), `describe`
// names a JSON value by its type and size. Serialising a deeply nested value recursively
// (json::dump) was what overflowed the stack; the depth limit while parsing means no value we
// hold nests more than 16 levels, and none is dumped into a message anyway.
#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace glassbox {
namespace {

using nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit: 100 MB of JSON
constexpr int kMaxDepth = 16;                // levels of JSON nesting; a header needs 3
// JSON values in a header: 2^21, ~200,000 tensors' worth. Parsed, each costs 16-80 bytes, so
// the tree stays within ~2x the 100 MiB a header's text may have.
constexpr uint64_t kMaxJsonValues = uint64_t{1} << 21;
constexpr size_t kMaxDims = 64;   // dimensions of one tensor
constexpr size_t kMaxEcho = 100;  // characters of a name or value in a message
constexpr const char* kCrcKey = "glassbox.crc32";
constexpr const char* kHeaderCrcKey = "glassbox.header_crc32";
constexpr size_t kReadChunk = size_t{1} << 20;  // the data CRC runs on each MiB as it arrives

// ---------------------------------------------------------------- untrusted text in messages

// 'name', clipped.
std::string quote(const std::string& s) { return "'" + clip(s, kMaxEcho) + "'"; }

// A short description of an untrusted JSON value: a string's first 60 characters, a number,
// or the type and size of a structure (never its contents: they may be huge or deep).
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "\"" + clip(v.get_ref<const std::string&>(), 60) + "\"";
    case json::value_t::array:
      return str("an array of ", v.size(), " elements");
    case json::value_t::object:
      return str("an object of ", v.size(), " members");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
    case json::value_t::boolean:
    case json::value_t::null:
      return clip(v.dump(), 60);  // scalars: short, and dump() does not recurse
    default:
      return "a value of an unexpected kind";
  }
}

// ---------------------------------------------------------------- dtypes and checksums

const char* st_dtype(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
    case DType::UInt8:
      return "U8";
    case DType::Bool:
      return "BOOL";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", kFloat32}, {"F64", kFloat64}, {"I64", kInt64}, {"U8", kUInt8}, {"BOOL", kBool}};
  for (const auto& [name, dt] : table)
    if (s == name) return out = dt, true;
  return false;
}

uint32_t crc32_init() { return static_cast<uint32_t>(::crc32(0, nullptr, 0)); }

// zlib's crc32 takes a 32-bit length: feed it in chunks.
uint32_t crc32_of(uint32_t crc, const uint8_t* p, uint64_t n) {
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(n, uint64_t{1} << 30));
    crc = static_cast<uint32_t>(::crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

std::string crc_hex(uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

// Exactly 8 hex digits (either case); false for anything else.
bool parse_crc_hex(const std::string& s, uint32_t& out) {
  if (s.size() != 8) return false;
  uint32_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  out = v;
  return true;
}

// The header CRC: of the compact dump of `header`, which must not hold kHeaderCrcKey (see
// safetensors.h). nlohmann::json keeps object keys sorted, so the text is canonical.
uint32_t header_crc(const json& header) {
  const std::string text = header.dump();
  return crc32_of(crc32_init(), reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// ---------------------------------------------------------------- the header

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// What a validated header says about a data section of a known size.
struct Header {
  std::vector<Entry> entries;  // in the order of their data, which they cover exactly
  Metadata meta;               // without the library's own keys
  bool has_crc = false;        // whether the writer recorded the data's CRC ...
  uint32_t crc = 0;            // ... and its value
};

void check_file_size(uint64_t size, const std::string& where) {
  GB_CHECK(size >= 8, where, ": file is ", size, " bytes, too short for the 8-byte header length");
}

void check_header_length(uint64_t header_len, uint64_t size, const std::string& where) {
  GB_CHECK(header_len <= size - 8, where, ": header length ", header_len,
           " runs past the end of the file (", size, " bytes)");
  GB_CHECK(header_len <= kMaxHeader, where, ": header length ", header_len, " exceeds the ",
           kMaxHeader / (1u << 20), " MiB limit");
}

// The deepest nesting of [ and { outside strings: the depth a message reports. A linear scan,
// so it costs nothing however deep the text goes.
int nesting_depth(const char* p, uint64_t n) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (uint64_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Parses the JSON text, refusing it as soon as it nests deeper than kMaxDepth: nlohmann's
// parser is iterative, and the callback stops it before the deep value is built.
json parse_json(const char* text, uint64_t len, const std::string& where) {
  // nlohmann's parser takes a NUL as the end of input and would silently ignore the rest.
  GB_CHECK(len == 0 || std::memchr(text, '\0', len) == nullptr, where,  // text may be null
           ": header is not valid JSON (it contains a NUL byte)");
  struct TooDeep {};
  struct TooMany {};
  uint64_t values = 0;
  const json::parser_callback_t limit = [&values](int depth, json::parse_event_t event, json&) {
    const bool opens =
        event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
    // `depth` counts the containers around the one that starts: the header object has 0
    if (opens && depth + 1 > kMaxDepth) throw TooDeep{};
    // every value costs the parsed tree 16-80 bytes however short its text: bound the count
    if ((opens || event == json::parse_event_t::value) && ++values > kMaxJsonValues)
      throw TooMany{};
    return true;
  };
  try {
    return json::parse(text, text + len, limit);
  } catch (const TooDeep&) {
    fail(str(where, ": header nests JSON ", nesting_depth(text, len), " levels deep, the limit is ",
             kMaxDepth));
  } catch (const TooMany&) {
    fail(str(where, ": header holds more than ", kMaxJsonValues,
             " JSON values (the limit; a header needs about ten a tensor)"));
  } catch (const std::exception& e) {
    fail(str(where, ": header is not valid JSON (", clip(e.what(), 200), ")"));
  }
}

// Checks the header CRC when the writer recorded one, and removes the key from `header`.
void check_header_crc(json& header, const std::string& where) {
  auto m = header.find("__metadata__");
  if (m == header.end() || !m->is_object()) return;  // the structural checks report it
  auto it = m->find(kHeaderCrcKey);
  if (it == m->end()) return;
  uint32_t expected = 0;
  GB_CHECK(it->is_string() && parse_crc_hex(it->get_ref<const std::string&>(), expected), where,
           ": __metadata__ '", kHeaderCrcKey, "' must be 8 hex digits, got ", describe(*it));
  m->erase(it);
  const uint32_t found = header_crc(header);
  GB_CHECK(found == expected, where,
           ": the header was changed after it was written: its CRC-32 is ", crc_hex(found),
           " but the file records ", crc_hex(expected), " (", kHeaderCrcKey,
           "); a name, shape, offset or metadata value differs from what was saved");
}

Metadata parse_metadata(const json& v, const std::string& where) {
  GB_CHECK(v.is_object(), where, ": __metadata__ must be an object of strings, got ", describe(v));
  Metadata out;
  for (auto m = v.begin(); m != v.end(); ++m) {
    GB_CHECK(m.value().is_string(), where, ": __metadata__ value for ", quote(m.key()),
             " is not a string (it is ", describe(m.value()), ")");
    out[m.key()] = m.value().get<std::string>();
  }
  return out;
}

// One tensor's entry, checked against a data section of `data_size` bytes.
Entry parse_entry(const std::string& name, const json& v, uint64_t data_size,
                  const std::string& where) {
  const std::string tensor = str(where, ": tensor ", quote(name));
  GB_CHECK(
      v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
      tensor, " needs dtype, shape and data_offsets (its entry is ", describe(v), ")");
  Entry e;
  e.name = name;
  const json& dt = v["dtype"];
  GB_CHECK(dt.is_string() && parse_dtype(dt.get<std::string>(), e.dtype), tensor,
           " has unknown or unsupported dtype ", describe(dt),
           " (supported: F32, F64, I64, U8, BOOL)");
  const json& shape = v["shape"];
  GB_CHECK(shape.is_array(), tensor, " shape is not an array (it is ", describe(shape), ")");
  GB_CHECK(shape.size() <= kMaxDims, tensor, " has ", shape.size(), " dimensions, the limit is ",
           kMaxDims);
  // `span` is the product of the non-zero dims: it bounds the element count and every
  // stride, so it must stay representable even when a zero dim makes the tensor empty.
  uint64_t span = 1;
  bool has_zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    GB_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), tensor,
             " has a bad shape: dimension ", i, " is ", describe(d),
             " (dimensions are non-negative integers)");
    const uint64_t dim = d.get<uint64_t>();
    GB_CHECK(dim == 0 || span <= std::numeric_limits<int64_t>::max() / 8 / dim, tensor,
             " shape is too large (dimension ", i, " is ", dim, ")");
    if (dim == 0)
      has_zero = true;
    else
      span *= dim;
    e.shape.push_back(static_cast<int64_t>(dim));
  }
  const uint64_t count = has_zero ? 0 : span;
  const json& off = v["data_offsets"];
  GB_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
               off[1].is_number_unsigned(),
           tensor, " data_offsets must be two non-negative integers (they are ", describe(off),
           ")");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  GB_CHECK(e.begin <= e.end, tensor, " data_offsets [", e.begin, ", ", e.end, "] have begin > end");
  GB_CHECK(e.end <= data_size, tensor, " data_offsets [", e.begin, ", ", e.end,
           "] fall outside the ", data_size, "-byte data section");
  GB_CHECK(e.end - e.begin == count * dtype_size(e.dtype), tensor, " has ", e.end - e.begin,
           " bytes but shape ", clip(shape_str(e.shape)), " of ", dtype_name(e.dtype), " needs ",
           count * dtype_size(e.dtype));
  return e;
}

// Sorts the entries by offset and checks they cover the data section exactly once.
void check_coverage(std::vector<Entry>& entries, uint64_t data_size, const std::string& where) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const Entry& e : entries) {
    GB_CHECK(e.begin >= covered, where, ": tensor ", quote(e.name), " data [", e.begin, ", ", e.end,
             "] overlaps the tensor before it");
    GB_CHECK(e.begin == covered, where, ": gap in the data section before tensor ", quote(e.name),
             " (bytes ", covered, " to ", e.begin, ")");
    covered = e.end;
  }
  GB_CHECK(covered == data_size, where, ": data section is ", data_size,
           " bytes but the tensors cover ", covered);
}

// The one validation of a header, for bytes in memory and files alike: `text` is the JSON and
// `data_size` the number of bytes after it.
Header parse_header(const char* text, uint64_t len, uint64_t data_size, const std::string& where) {
  json header = parse_json(text, len, where);
  GB_CHECK(header.is_object(), where, ": header must be a JSON object, got ", describe(header));
  check_header_crc(header, where);
  Header h;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__")
      h.meta = parse_metadata(it.value(), where);
    else
      h.entries.push_back(parse_entry(it.key(), it.value(), data_size, where));
  }
  check_coverage(h.entries, data_size, where);
  if (auto it = h.meta.find(kCrcKey); it != h.meta.end()) {
    h.has_crc = true;
    GB_CHECK(parse_crc_hex(it->second, h.crc), where, ": __metadata__ '", kCrcKey,
             "' must be 8 hex digits, got ", quote(it->second));
    h.meta.erase(it);
  }
  return h;
}

// The data's CRC, when the writer recorded one, against what was read.
void check_data_crc(const Header& h, uint32_t found, uint64_t data_size, const std::string& where) {
  if (!h.has_crc) return;
  GB_CHECK(found == h.crc, where, ": the data is damaged: the ", data_size,
           "-byte data section has CRC-32 ", crc_hex(found), " but the file records ",
           crc_hex(h.crc), " (", kCrcKey,
           "); the file changed after it was written (disk, copy or transfer error)");
}

// A byte other than 0 or 1 would be an invalid C++ bool.
void check_bools(const Entry& e, const uint8_t* raw, const std::string& where) {
  if (e.dtype != kBool) return;
  for (uint64_t i = 0; i < e.end - e.begin; ++i)
    GB_CHECK(raw[i] <= 1, where, ": tensor ", quote(e.name), " holds a BOOL byte ", int(raw[i]),
             " that is neither 0 nor 1");
}

void hand_back(Metadata& file_meta, Metadata* meta) {
  if (meta)
    for (auto& [k, val] : file_meta) (*meta)[k] = std::move(val);
}

}  // namespace

std::vector<uint8_t> safetensors_serialize(const TensorMap& tensors, const Metadata& meta) {
  json header = json::object();
  std::vector<Tensor> host;
  uint64_t offset = 0;
  uint32_t crc = crc32_init();
  for (const auto& [name, t] : tensors) {
    GB_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved");
    GB_CHECK(t.defined(), "save_safetensors: tensor ", quote(name), " is undefined");
    Tensor c = t.detach().cpu().contiguous();
    header[name] = {{"dtype", st_dtype(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    if (c.nbytes()) crc = crc32_of(crc, static_cast<const uint8_t*>(c.raw_data()), c.nbytes());
    host.push_back(c);
  }
  // The checksums describe the bytes written now: a caller's own values for the keys are
  // replaced. The header CRC is taken over the header without its own key, then added.
  Metadata full = meta;
  full.erase(kHeaderCrcKey);
  full[kCrcKey] = crc_hex(crc);
  header["__metadata__"] = full;
  std::string text;
  try {
    header["__metadata__"][kHeaderCrcKey] = crc_hex(header_crc(header));
    text = header.dump();
  } catch (const json::exception& e) {  // strings that are not valid UTF-8
    fail(str("save_safetensors: tensor names and metadata must be valid UTF-8 (",
             clip(e.what(), 200), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  std::vector<uint8_t> out(8 + text.size() + offset);
  uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* data = out.data() + 8 + text.size();
  for (const Tensor& c : host) {
    if (c.nbytes()) std::memcpy(data, c.raw_data(), c.nbytes());
    data += c.nbytes();
  }
  return out;
}

TensorMap safetensors_parse(const uint8_t* data, size_t size, Metadata* meta,
                            const std::string& source) {
  const std::string where = "load_safetensors(" + source + ")";
  check_file_size(size, where);
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);
  check_header_length(header_len, size, where);
  const uint64_t data_size = size - 8 - header_len;
  Header h = parse_header(reinterpret_cast<const char*>(data + 8), header_len, data_size, where);
  const uint8_t* buffer = data + 8 + header_len;
  // The checksum is checked before any tensor is built.
  check_data_crc(h, crc32_of(crc32_init(), buffer, data_size), data_size, where);
  TensorMap out;
  for (const Entry& e : h.entries) {
    check_bools(e, buffer + e.begin, where);
    out.emplace(e.name, from_blob(buffer + e.begin, e.shape, e.dtype));
  }
  hand_back(h.meta, meta);
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta) {
  const std::vector<uint8_t> bytes = safetensors_serialize(tensors, meta);
  AtomicFile file(path, "save_safetensors: cannot write " + path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

namespace {

// A file descriptor closed on every path out.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

// Reads up to `n` bytes; fewer only at the end of the file.
size_t read_upto(int fd, uint8_t* p, size_t n, const std::string& where) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, p + done, std::min<size_t>(n - done, size_t{1} << 30));
    if (r < 0 && errno == EINTR) continue;
    GB_CHECK(r >= 0, where, ": read failed: ", std::strerror(errno));
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

// Reads exactly `n` bytes at file offset `at`: fstat promised them, so fewer means the file
// shrank while it was read.
void read_exact(int fd, uint8_t* p, size_t n, uint64_t at, uint64_t size,
                const std::string& where) {
  const size_t got = read_upto(fd, p, n, where);
  GB_CHECK(got == n, where, ": the file ends after ", at + got, " bytes but was ", size,
           " bytes when opened: it shrank while it was read (is another program writing it?)");
}

// The data section, read into one fresh tensor per entry, in file order (the entries cover it
// exactly), with the CRC taken over each chunk as it arrives. Returns the CRC.
uint32_t read_tensors(int fd, const Header& h, uint64_t data_start, uint64_t size,
                      std::vector<Tensor>& out, const std::string& where) {
  uint32_t crc = crc32_init();
  uint64_t at = data_start;
  for (const Entry& e : h.entries) {
    Tensor t;
    try {
      t = empty(e.shape, dtype(e.dtype));
    } catch (const std::bad_alloc&) {
      fail(str(where, ": cannot allocate ", e.end - e.begin, " bytes for tensor ", quote(e.name),
               ": out of memory"));
    }
    auto* p = static_cast<uint8_t*>(t.raw_data());
    for (uint64_t left = e.end - e.begin; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kReadChunk));
      read_exact(fd, p, n, at, size, where);
      crc = crc32_of(crc, p, n);
      p += n;
      at += n;
      left -= n;
    }
    out.push_back(std::move(t));
  }
  return crc;
}

// After the last declared byte: a file that has more, or another size now, changed while read.
void check_unchanged(int fd, uint64_t size, const std::string& where) {
  uint8_t extra = 0;
  struct stat now {};
  GB_CHECK(read_upto(fd, &extra, 1, where) == 0 && ::fstat(fd, &now) == 0 &&
               static_cast<uint64_t>(now.st_size) == size,
           where, ": the file grew or changed size while it was read (it was ", size,
           " bytes when opened; is another program writing it?)");
}

}  // namespace

TensorMap load_safetensors(const std::string& path, Metadata* meta) {
  const std::string where = "load_safetensors(" + path + ")";
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  GB_CHECK(f.fd >= 0, "load_safetensors: cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  GB_CHECK(::fstat(f.fd, &st) == 0, where, ": cannot stat the file: ", std::strerror(errno));
  GB_CHECK(S_ISREG(st.st_mode), where, ": not a regular file (", file_kind(st.st_mode),
           "); give the path of a .safetensors file");
  const int flags = ::fcntl(f.fd, F_GETFL);
  GB_CHECK(flags >= 0 && ::fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK) == 0, where,
           ": cannot set up the file for reading: ", std::strerror(errno));
  const auto size = static_cast<uint64_t>(st.st_size);

  check_file_size(size, where);
  uint8_t prefix[8];
  read_exact(f.fd, prefix, 8, 0, size, where);
  uint64_t header_len = 0;
  std::memcpy(&header_len, prefix, 8);
  check_header_length(header_len, size, where);
  Header h;
  {
    std::vector<uint8_t> text(static_cast<size_t>(header_len));  // at most kMaxHeader
    read_exact(f.fd, text.data(), text.size(), 8, size, where);
    h = parse_header(reinterpret_cast<const char*>(text.data()), header_len, size - 8 - header_len,
                     where);
  }

  std::vector<Tensor> tensors;
  const uint32_t crc = read_tensors(f.fd, h, 8 + header_len, size, tensors, where);
  check_unchanged(f.fd, size, where);
  check_data_crc(h, crc, size - 8 - header_len, where);
  TensorMap out;
  for (size_t i = 0; i < h.entries.size(); ++i) {
    const Entry& e = h.entries[i];
    if (e.end > e.begin) check_bools(e, static_cast<const uint8_t*>(tensors[i].raw_data()), where);
    out.emplace(e.name, std::move(tensors[i]));
  }
  hand_back(h.meta, meta);
  return out;
}

}  // namespace glassbox
