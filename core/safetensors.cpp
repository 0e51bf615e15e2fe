#include "core/safetensors.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace glassbox {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit: 100 MB of JSON
constexpr const char* kCrcKey = "glassbox.crc32";

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

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

}  // namespace

std::vector<uint8_t> safetensors_serialize(const TensorMap& tensors, const Metadata& meta) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<Tensor> host;
  uint64_t offset = 0;
  uint32_t crc = static_cast<uint32_t>(::crc32(0, nullptr, 0));
  for (const auto& [name, t] : tensors) {
    GB_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved");
    GB_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    Tensor c = t.detach().cpu().contiguous();
    header[name] = {{"dtype", st_dtype(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    if (c.nbytes()) crc = crc32_of(crc, static_cast<const uint8_t*>(c.raw_data()), c.nbytes());
    host.push_back(c);
  }
  // The checksum describes the bytes written now: a caller's own value for the key is replaced.
  Metadata full = meta;
  full[kCrcKey] = crc_hex(crc);
  header["__metadata__"] = full;
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {  // strings that are not valid UTF-8
    fail(str("save_safetensors: tensor names and metadata must be valid UTF-8 (", e.what(), ")"));
  }
  json.append((8 - json.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  std::vector<uint8_t> out(8 + json.size() + offset);
  uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, json.data(), json.size());
  uint8_t* data = out.data() + 8 + json.size();
  for (const Tensor& c : host) {
    if (c.nbytes()) std::memcpy(data, c.raw_data(), c.nbytes());
    data += c.nbytes();
  }
  return out;
}

TensorMap safetensors_parse(const uint8_t* data, size_t size, Metadata* meta,
                            const std::string& source) {
  const std::string where = "load_safetensors(" + source + ")";
  GB_CHECK(size >= 8, where, ": file is ", size,
           " bytes, too short for the 8-byte header "
           "length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);
  GB_CHECK(header_len <= size - 8, where, ": header length ", header_len,
           " runs past the end of the file (", size, " bytes)");
  GB_CHECK(header_len <= kMaxHeader, where, ": header length ", header_len,
           " exceeds the 100 MB limit");
  const char* hdr = reinterpret_cast<const char*>(data + 8);
  // nlohmann's parser takes a NUL as the end of input and would silently ignore the rest.
  GB_CHECK(std::memchr(hdr, '\0', header_len) == nullptr, where,
           ": header is not valid JSON (it contains a NUL byte)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hdr, hdr + header_len);
  } catch (const std::exception& e) {
    fail(str(where, ": header is not valid JSON (", e.what(), ")"));
  }
  GB_CHECK(header.is_object(), where, ": header must be a JSON object");
  const uint64_t buffer_size = size - 8 - header_len;
  const uint8_t* buffer = data + 8 + header_len;

  std::vector<Entry> entries;
  Metadata file_meta;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      GB_CHECK(v.is_object(), where, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        GB_CHECK(m.value().is_string(), where, ": __metadata__ value for '", m.key(),
                 "' is not a string");
        file_meta[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    GB_CHECK(
        v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
        where, ": tensor '", name, "' needs dtype, shape and data_offsets");
    Entry e;
    e.name = name;
    GB_CHECK(v["dtype"].is_string() && parse_dtype(v["dtype"].get<std::string>(), e.dtype), where,
             ": tensor '", name, "' has unknown or unsupported dtype ", v["dtype"].dump(),
             " (supported: F32, F64, I64, U8, BOOL)");
    GB_CHECK(v["shape"].is_array(), where, ": tensor '", name, "' shape is not an array");
    // `span` is the product of the non-zero dims: it bounds the element count and every
    // stride, so it must stay representable even when a zero dim makes the tensor empty.
    uint64_t span = 1;
    bool has_zero = false;
    for (const auto& d : v["shape"]) {
      GB_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where,
               ": tensor '", name, "' has a bad shape ", v["shape"].dump());
      uint64_t dim = d.get<uint64_t>();
      GB_CHECK(dim == 0 || span <= std::numeric_limits<int64_t>::max() / 8 / dim, where,
               ": tensor '", name, "' shape ", v["shape"].dump(), " is too large");
      if (dim == 0)
        has_zero = true;
      else
        span *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t count = has_zero ? 0 : span;
    const auto& off = v["data_offsets"];
    GB_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() &&
                 off[1].is_number_unsigned(),
             where, ": tensor '", name, "' data_offsets must be two non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    GB_CHECK(e.begin <= e.end, where, ": tensor '", name, "' data_offsets [", e.begin, ", ", e.end,
             "] have begin > end");
    GB_CHECK(e.end <= buffer_size, where, ": tensor '", name, "' data_offsets [", e.begin, ", ",
             e.end, "] fall outside the ", buffer_size, "-byte data section");
    GB_CHECK(e.end - e.begin == count * dtype_size(e.dtype), where, ": tensor '", name, "' has ",
             e.end - e.begin, " bytes but shape ", shape_str(e.shape), " of ", dtype_name(e.dtype),
             " needs ", count * dtype_size(e.dtype));
    entries.push_back(std::move(e));
  }
  // The data section must be covered exactly once: no overlaps, no gaps.
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  for (const Entry* e : order) {
    GB_CHECK(e->begin >= covered, where, ": tensor '", e->name, "' data [", e->begin, ", ", e->end,
             "] overlaps the tensor before it");
    GB_CHECK(e->begin == covered, where, ": gap in the data section before tensor '", e->name,
             "' (bytes ", covered, " to ", e->begin, ")");
    covered = e->end;
  }
  GB_CHECK(covered == buffer_size, where, ": data section is ", buffer_size,
           " bytes but the tensors cover ", covered);

  // The checksum of the data section, when the writer recorded one (files from other writers,
  // e.g. PyTorch's safetensors, have none). It is checked before any tensor is built.
  if (auto it = file_meta.find(kCrcKey); it != file_meta.end()) {
    uint32_t expected = 0;
    GB_CHECK(parse_crc_hex(it->second, expected), where, ": __metadata__ '", kCrcKey,
             "' must be 8 hex digits, got '", it->second, "'");
    const uint32_t found =
        crc32_of(static_cast<uint32_t>(::crc32(0, nullptr, 0)), buffer, buffer_size);
    GB_CHECK(found == expected, where, ": the data is damaged: the ", buffer_size,
             "-byte data section has CRC-32 ", crc_hex(found), " but the file records ",
             crc_hex(expected), " (", kCrcKey,
             "); the file changed after it was written (disk, copy or transfer error)");
    file_meta.erase(it);
  }

  TensorMap out;
  for (const Entry& e : entries) {
    if (e.dtype == kBool) {  // a byte other than 0 or 1 would be an invalid C++ bool
      const uint8_t* raw = buffer + e.begin;
      for (uint64_t i = 0; i < e.end - e.begin; ++i)
        GB_CHECK(raw[i] <= 1, where, ": tensor '", e.name, "' holds a BOOL byte ", int(raw[i]),
                 " that is neither 0 nor 1");
    }
    out.emplace(e.name, from_blob(buffer + e.begin, e.shape, e.dtype));
  }
  if (meta)
    for (auto& [k, val] : file_meta) (*meta)[k] = std::move(val);
  return out;
}

namespace {

// Temporaries are "<file>.tmp.<pid>.<n>" in the target's folder. A save holds an flock on its
// temporary from creation to rename; the kernel drops it when the process dies, so a temporary
// that nobody holds is what a killed save left behind.
bool is_temp_of(const char* name, const std::string& prefix) {
  if (std::strncmp(name, prefix.c_str(), prefix.size()) != 0) return false;
  const char* p = name + prefix.size();
  auto digits = [&p] {
    const char* s = p;
    while (*p >= '0' && *p <= '9') ++p;
    return p > s;
  };
  if (!digits() || *p++ != '.') return false;
  return digits() && *p == '\0';
}

// Removes the temporaries of `base` in `dir` whose saves died (best effort: errors are
// ignored, and a file whose lock cannot be taken, e.g. where flock is unsupported, is kept).
void remove_dead_temporaries(const std::string& dir, const std::string& base) {
  const std::string prefix = base + ".tmp.";
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (is_temp_of(e->d_name, prefix)) names.push_back(e->d_name);
    ::closedir(d);
  }
  for (const std::string& name : names) {
    const std::string p = dir + "/" + name;
    // read-write: where flock is emulated with POSIX locks (NFS) an exclusive lock needs it
    int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct stat held {};
    struct stat now {};
    if (::fstat(fd, &held) == 0 && S_ISREG(held.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::lstat(p.c_str(), &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino)
      ::unlink(p.c_str());  // a live save that had not locked it yet sees st_nlink == 0: retries
    ::close(fd);
  }
}

}  // namespace

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& meta) {
  std::vector<uint8_t> bytes = safetensors_serialize(tensors, meta);
  const size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  remove_dead_temporaries(dir, slash == std::string::npos ? path : path.substr(slash + 1));

  // unique per process and per call, so concurrent saves never share a temporary file
  static std::atomic<uint64_t> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0;; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && attempt < 100) continue;  // left by a process with our pid
    GB_CHECK(fd >= 0, "save_safetensors: cannot create ", tmp, ": ", std::strerror(errno));
    int locked;
    do locked = ::flock(fd, LOCK_EX);  // waits only while another save inspects the file
    while (locked != 0 && errno == EINTR);
    struct stat st {};
    if (locked == 0 && ::fstat(fd, &st) == 0 && st.st_nlink == 0 && attempt < 100) {
      ::close(fd);  // removed by another save between our open and our lock: take a new name
      continue;
    }
    break;  // without flock support the save still works; it is just never cleaned up after
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      ::close(fd);
      fail(str("save_safetensors: write to ", tmp, " failed: ", std::strerror(err)));
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ::close(fd);
    fail(str("save_safetensors: fsync of ", tmp, " failed: ", std::strerror(err)));
  }
  // rename while still holding the lock, so no other save can take the file for a dead one's
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ::close(fd);
    fail(str("save_safetensors: cannot rename ", tmp, " to ", path, ": ", std::strerror(err)));
  }
  ::close(fd);
  // make the rename itself durable: fsync the folder that holds the new directory entry
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

TensorMap load_safetensors(const std::string& path, Metadata* meta) {
  // Reads to the end rather than trusting a size up front: a directory, a pipe or a file that
  // changes underneath us is then an Error instead of a huge allocation or a short read.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  GB_CHECK(fd >= 0, "load_safetensors: cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  size_t expect = 0;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    expect = static_cast<size_t>(st.st_size);
  std::vector<uint8_t> bytes(expect + 1);  // one spare byte sees the end without regrowing
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(std::max<size_t>(2 * bytes.size(), 1 << 16));
    ssize_t r = ::read(fd, bytes.data() + used, bytes.size() - used);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      fail(str("load_safetensors: read of ", path, " failed: ", std::strerror(err)));
    }
    if (r == 0) break;
    used += static_cast<size_t>(r);
  }
  bytes.resize(used);
  ::close(fd);
  return safetensors_parse(bytes.data(), bytes.size(), meta, path);
}

}  // namespace glassbox
