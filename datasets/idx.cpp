// IDX reader and writer (the format is described in idx.h).
//
// The reader trusts nothing in a file until it has been checked against something else: the
// dimensions against the file size (raw) or the uncompressed size in the gzip trailer (gzip),
// before any allocation, so a corrupt header cannot make it allocate gigabytes; and the data
// against the end of the file after reading, so a cut-off or padded file is not silently
// accepted. Multi-byte values are assembled byte by byte, so any host byte order works.
#include "datasets/idx.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.h"

namespace glassbox::datasets {
namespace {

constexpr const char* kRead = "read_idx";
constexpr const char* kWrite = "write_idx";
constexpr size_t kChunk = size_t{1} << 20;  // bytes per read or write call
// Larger than any IDX data set in use; a header asking for more is corrupt, not big data.
constexpr uint64_t kMaxTensorBytes = uint64_t{16} << 30;

struct IdxType {
  uint8_t code;
  const char* name;
  size_t disk_size;  // bytes per element in the file
  DType dtype;       // what read_idx returns; the integer types all widen to Int64
};

constexpr IdxType kTypes[] = {
    {0x08, "uint8", 1, DType::UInt8},     {0x09, "int8", 1, DType::Int64},
    {0x0B, "int16", 2, DType::Int64},     {0x0C, "int32", 4, DType::Int64},
    {0x0D, "float32", 4, DType::Float32}, {0x0E, "float64", 8, DType::Float64}};

const IdxType* find_type(uint8_t code) {
  for (const IdxType& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

// Every error names the operation and the file, then says what is wrong.
template <class... Args>
[[noreturn]] void fail_file(const char* op, const std::string& path, const Args&... args) {
  fail(str(op, ": ", path, ": ", args...));
}

std::string hex(uint32_t value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%0*X", digits, value);
  return buf;
}

template <size_t N>
uint64_t load_be(const uint8_t* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < N; ++i) v = v << 8 | p[i];
  return v;
}

void store_be(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0; v >>= 8) p[i] = static_cast<uint8_t>(v);
}

// ------------------------------------------------------------------------------- reading

// zlib prefixes its messages with "<path>: "; our messages name the path already.
std::string without_path(const std::string& path, const char* zlib_msg) {
  std::string msg = zlib_msg ? zlib_msg : "unknown zlib error";
  const std::string prefix = path + ": ";
  if (msg.compare(0, prefix.size(), prefix) == 0) msg.erase(0, prefix.size());
  return msg;
}

// A byte source: a raw file or the decompressed contents of a gzip file.
class Input {
 public:
  explicit Input(const std::string& path) : path_(path) {}
  virtual ~Input() = default;
  const std::string& path() const { return path_; }
  // Closes the source, throwing if that reveals an error (the destructor closes silently).
  virtual void close() = 0;

  // Reads up to n bytes, fewer only where the data ends; throws on read errors.
  size_t read(void* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      size_t got = read_some(static_cast<uint8_t*>(dst) + done, std::min(n - done, kChunk));
      if (got == 0) break;
      done += got;
    }
    return done;
  }

 protected:
  virtual size_t read_some(void* dst, size_t n) = 0;  // n <= kChunk
  std::string path_;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

class RawInput : public Input {
 public:
  RawInput(const std::string& path, FilePtr file) : Input(path), file_(std::move(file)) {}
  void close() override { file_.reset(); }  // read-only: closing cannot lose data

 protected:
  size_t read_some(void* dst, size_t n) override {
    size_t got = std::fread(dst, 1, n, file_.get());
    if (got < n && std::ferror(file_.get()))
      fail_file(kRead, path_, "read error (", std::strerror(errno), ")");
    return got;
  }

 private:
  FilePtr file_;
};

class GzInput : public Input {
 public:
  explicit GzInput(const std::string& path) : Input(path), gz_(gzopen(path.c_str(), "rb")) {
    if (!gz_) fail_file(kRead, path, "cannot open file (", std::strerror(errno), ")");
    gzbuffer(gz_, 1 << 17);  // fewer, larger reads than zlib's 8 KiB default
  }
  ~GzInput() override {
    if (gz_) gzclose_r(gz_);
  }
  void close() override {
    int rc = gzclose_r(gz_);
    gz_ = nullptr;
    if (rc != Z_OK)
      fail_file(kRead, path_, "not a complete gzip stream: ",
                rc == Z_BUF_ERROR ? "it ends in the middle of the compressed data"
                                  : "error while closing");
  }

 protected:
  size_t read_some(void* dst, size_t n) override {
    int got = gzread(gz_, dst, static_cast<unsigned>(n));
    // gzread reports a cut-off stream (Z_BUF_ERROR) only through gzerror, not its result.
    int err = Z_OK;
    const char* msg = gzerror(gz_, &err);
    if (got < 0 || err != Z_OK)
      fail_file(kRead, path_, "not a complete gzip stream: ", without_path(path_, msg));
    return static_cast<size_t>(got);
  }

 private:
  gzFile gz_;
};

struct Header {
  const IdxType* type = nullptr;
  Shape dims;
  uint64_t header_bytes = 0;  // 4 + 4 * rank
  uint64_t data_bytes = 0;    // numel * type->disk_size

  std::string describe() const {
    return str(shape_str(dims), " ", type->name, " = ", data_bytes, " bytes of data");
  }
};

void check_magic(const std::string& path, const uint8_t* magic, size_t got) {
  if (got == 0)
    fail_file(kRead, path, "empty file (an IDX file starts with a 4-byte magic number)");
  if (got < 4)
    fail_file(kRead, path, "truncated header: the file holds ", got,
              " bytes, the magic number alone needs 4");
  if (magic[0] != 0 || magic[1] != 0)
    fail_file(kRead, path, "bad magic ", hex(static_cast<uint32_t>(load_be<4>(magic)), 8),
              " (an IDX file starts with two zero bytes, a type code and a rank)");
  if (!find_type(magic[2]))
    fail_file(kRead, path, "unknown IDX type code ", hex(magic[2], 2),
              " (known: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E "
              "float64)");
  if (magic[3] == 0)
    fail_file(kRead, path, "rank 0 in the header (an IDX file has at least one dimension)");
}

// numel * element size, refusing sizes no real data set has. The product is checked step by
// step: 255 dimensions of up to 2^32 - 1 overflow any integer type.
uint64_t data_bytes_of(const std::string& path, const Header& h) {
  const uint64_t limit = kMaxTensorBytes / dtype_size(h.type->dtype);
  uint64_t numel = 1;
  for (int64_t d : h.dims) {
    const uint64_t ud = static_cast<uint64_t>(d);
    if (numel != 0 && ud != 0 && numel > limit / ud)
      fail_file(kRead, path, "header says ", shape_str(h.dims), " ", h.type->name,
                ", more than the ", kMaxTensorBytes >> 30,
                " GiB a tensor read from an IDX file may have (corrupt header?)");
    numel *= ud;
  }
  return numel * h.type->disk_size;
}

Header read_header(Input& in) {
  uint8_t magic[4];
  check_magic(in.path(), magic, in.read(magic, 4));
  Header h;
  h.type = find_type(magic[2]);
  const size_t rank = magic[3];
  h.header_bytes = 4 + 4 * rank;
  std::vector<uint8_t> raw(4 * rank);
  size_t got = in.read(raw.data(), raw.size());
  if (got < raw.size())
    fail_file(kRead, in.path(), "truncated header: rank ", rank, " needs ", h.header_bytes,
              " header bytes, the file ends after ", 4 + got);
  for (size_t i = 0; i < rank; ++i) h.dims.push_back(static_cast<int64_t>(load_be<4>(&raw[4 * i])));
  h.data_bytes = data_bytes_of(in.path(), h);
  return h;
}

// `held` is how many data bytes the file has after the header; `at_least` when counting
// stopped early.
void check_data_size(const std::string& path, const Header& h, uint64_t held, bool at_least) {
  if (held < h.data_bytes)
    fail_file(kRead, path, "truncated: header says ", h.describe(), ", the file holds ", held);
  if (held > h.data_bytes)
    fail_file(kRead, path, at_least ? "at least " : "", held - h.data_bytes,
              " bytes after the data (file longer than its header says)");
}

void read_fully(Input& in, const Header& h, void* dst, size_t n, uint64_t done) {
  size_t got = in.read(dst, n);
  if (got < n)
    fail_file(kRead, in.path(), "truncated: header says ", h.describe(), ", the file holds ",
              done + got);
}

// Big-endian to host order in place, for types as wide on disk as in memory.
void to_host_order(uint8_t* p, size_t bytes, size_t esize) {
  if (esize == 4) {
    for (size_t i = 0; i < bytes; i += 4) {
      uint32_t v = static_cast<uint32_t>(load_be<4>(p + i));
      std::memcpy(p + i, &v, 4);
    }
  } else if (esize == 8) {
    for (size_t i = 0; i < bytes; i += 8) {
      uint64_t v = load_be<8>(p + i);
      std::memcpy(p + i, &v, 8);
    }
  }
}

// Signed big-endian int8/int16/int32 to int64 (the casts reinterpret the two's complement bits).
void widen(const uint8_t* p, size_t bytes, size_t esize, int64_t* out) {
  for (size_t i = 0; i < bytes; i += esize, ++out) {
    if (esize == 1) *out = static_cast<int8_t>(p[i]);
    if (esize == 2) *out = static_cast<int16_t>(load_be<2>(p + i));
    if (esize == 4) *out = static_cast<int32_t>(load_be<4>(p + i));
  }
}

void read_data(Input& in, const Header& h, const Tensor& t) {
  if (h.data_bytes == 0) return;
  const size_t esize = h.type->disk_size;
  if (esize == dtype_size(t.dtype())) {
    // Same width on disk and in memory: read straight into the tensor, no second copy.
    uint8_t* dst = static_cast<uint8_t*>(t.raw_data());
    for (uint64_t done = 0; done < h.data_bytes;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, h.data_bytes - done));
      read_fully(in, h, dst + done, n, done);
      to_host_order(dst + done, n, esize);
      done += n;
    }
    return;
  }
  // Narrow integers widen to int64 through a chunk-sized scratch buffer.
  std::vector<uint8_t> chunk(kChunk);  // a multiple of every element size
  int64_t* out = t.data_ptr<int64_t>();
  for (uint64_t done = 0; done < h.data_bytes;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, h.data_bytes - done));
    read_fully(in, h, chunk.data(), n, done);
    widen(chunk.data(), n, esize, out + done / esize);
    done += n;
  }
}

// Reads the data after the header, then checks the data ended exactly where the header said.
Tensor read_body(Input& in, const Header& h) {
  Tensor t = empty(h.dims, dtype(h.type->dtype));
  read_data(in, h, t);
  uint8_t extra;
  if (in.read(&extra, 1) != 0)
    fail_file(kRead, in.path(), "more bytes after the data (file longer than its header says)");
  in.close();
  return t;
}

Tensor read_raw(const std::string& path, FilePtr file, uint64_t file_size) {
  RawInput in(path, std::move(file));
  Header h = read_header(in);
  // header_bytes <= file_size unless the file shrank while being read; then reading reports it.
  check_data_size(path, h, file_size >= h.header_bytes ? file_size - h.header_bytes : 0, false);
  return read_body(in, h);
}

// The gzip trailer's ISIZE: the uncompressed size mod 2^32, little-endian in the last 4 bytes.
uint32_t gzip_isize(const std::string& path, std::FILE* f, uint64_t file_size) {
  constexpr uint64_t kMinGzip = 18;  // 10-byte header + 8-byte trailer
  if (file_size < kMinGzip)
    fail_file(kRead, path, "not a complete gzip stream: the file holds ", file_size,
              " bytes, a gzip file has at least ", kMinGzip);
  uint8_t b[4];
  if (std::fseek(f, -4, SEEK_END) != 0 || std::fread(b, 1, 4, f) != 4)
    fail_file(kRead, path, "read error (", std::strerror(errno), ")");
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

// Decompresses the rest of the stream without keeping it, to tell a damaged stream (a cut-off
// download: zlib reports it) from a header whose sizes are wrong. Counting stops a little past
// the expected size so a gzip bomb costs time, not memory, and not unbounded time.
void diagnose_gzip(Input& in, const Header& h) {
  const uint64_t cap = h.data_bytes + (uint64_t{64} << 20);
  std::vector<uint8_t> scratch(kChunk);
  uint64_t held = 0;
  size_t got;
  while (held < cap && (got = in.read(scratch.data(), kChunk)) > 0) held += got;
  check_data_size(in.path(), h, held, held >= cap);
}

Tensor read_gzip(const std::string& path, uint32_t isize) {
  Header h;
  {
    GzInput in(path);
    h = read_header(in);
    const uint64_t total = h.header_bytes + h.data_bytes;
    if (static_cast<uint32_t>(total) == isize) return read_body(in, h);
    // The sizes disagree. Usually that is damage; but a stream of several gzip members has
    // only the last member's size in the trailer, so a stream that decompresses to exactly
    // the expected size is read after all.
    diagnose_gzip(in, h);
  }
  GzInput in(path);
  read_header(in);
  return read_body(in, h);
}

// ------------------------------------------------------------------------------- writing

// A byte sink: a raw file or a gzip stream. Every write is checked.
class Output {
 public:
  explicit Output(const std::string& path) : path_(path) {}
  virtual ~Output() = default;
  virtual void write(const void* src, size_t n) = 0;  // n <= kChunk
  virtual void close() = 0;                           // flushes; the destructor closes silently

 protected:
  std::string path_;
};

class RawOutput : public Output {
 public:
  explicit RawOutput(const std::string& path)
      : Output(path), file_(std::fopen(path.c_str(), "wb")) {
    if (!file_) fail_file(kWrite, path, "cannot create file (", std::strerror(errno), ")");
  }
  void write(const void* src, size_t n) override {
    if (std::fwrite(src, 1, n, file_.get()) != n)
      fail_file(kWrite, path_, "write failed (", std::strerror(errno), ")");
  }
  void close() override {
    // fclose flushes the last buffered bytes, so a full disk often shows only here.
    if (std::fclose(file_.release()) != 0)
      fail_file(kWrite, path_, "write failed (", std::strerror(errno), ")");
  }

 private:
  FilePtr file_;
};

class GzOutput : public Output {
 public:
  explicit GzOutput(const std::string& path) : Output(path), gz_(gzopen(path.c_str(), "wb")) {
    if (!gz_) fail_file(kWrite, path, "cannot create file (", std::strerror(errno), ")");
  }
  ~GzOutput() override {
    if (gz_) gzclose_w(gz_);
  }
  void write(const void* src, size_t n) override {
    // gzwrite returns 0 both for an error and for n == 0, so empty writes are skipped.
    if (n == 0 || gzwrite(gz_, src, static_cast<unsigned>(n)) == static_cast<int>(n)) return;
    int err = Z_OK;
    fail_file(kWrite, path_, "write failed (", without_path(path_, gzerror(gz_, &err)), ")");
  }
  void close() override {
    int rc = gzclose_w(gz_);
    gz_ = nullptr;
    if (rc != Z_OK)
      fail_file(kWrite, path_, "write failed (",
                rc == Z_ERRNO ? std::strerror(errno) : "zlib error " + std::to_string(rc), ")");
  }

 private:
  gzFile gz_;
};

const IdxType& type_for_write(const std::string& path, const Tensor& t) {
  if (!t.defined()) fail_file(kWrite, path, "the tensor is undefined");
  if (!t.device().is_cpu())
    fail_file(kWrite, path, "the tensor is on ", t.device().str(), "; call .cpu() first");
  if (t.dim() < 1 || t.dim() > 255)
    fail_file(kWrite, path, "rank ", t.dim(), " (shape ", t.shape_str(),
              "); an IDX file holds rank 1 to 255");
  for (int64_t d : t.shape())
    if (d > int64_t{std::numeric_limits<uint32_t>::max()})
      fail_file(kWrite, path, "dimension ", d, " of shape ", t.shape_str(),
                " does not fit the 32-bit size field");
  uint8_t code = 0;
  switch (t.dtype()) {
    case DType::UInt8:
      code = 0x08;
      break;
    case DType::Int64:
      code = 0x0C;
      break;
    case DType::Float32:
      code = 0x0D;
      break;
    case DType::Float64:
      code = 0x0E;
      break;
    case DType::Bool:
      fail_file(kWrite, path, "bool tensors have no IDX type; convert to uint8 first");
  }
  return *find_type(code);
}

// IDX has no 64-bit integer type; refuse rather than wrap values that do not fit int32.
void check_fits_int32(const std::string& path, const Tensor& c) {
  const int64_t* p = c.data_ptr<int64_t>();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (p[i] < std::numeric_limits<int32_t>::min() || p[i] > std::numeric_limits<int32_t>::max())
      fail_file(kWrite, path, "int64 value ", p[i], " at flat index ", i,
                " does not fit the int32 that IDX stores");
}

void write_header(Output& out, const IdxType& type, const Shape& dims) {
  std::vector<uint8_t> header(4 + 4 * dims.size());
  header[2] = type.code;
  header[3] = static_cast<uint8_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    store_be(&header[4 + 4 * i], static_cast<uint64_t>(dims[i]), 4);
  out.write(header.data(), header.size());
}

// Encodes elements as big-endian words of `size` bytes, a chunk at a time; `bits` maps an
// element to the integer whose bytes are stored.
template <class T, class Bits>
void write_elements(Output& out, const T* src, int64_t count, size_t size, Bits bits) {
  std::vector<uint8_t> chunk(kChunk);
  const int64_t per_chunk = static_cast<int64_t>(kChunk / size);
  for (int64_t i = 0; i < count; i += per_chunk) {
    const int64_t n = std::min(per_chunk, count - i);
    for (int64_t j = 0; j < n; ++j) store_be(&chunk[j * size], bits(src[i + j]), size);
    out.write(chunk.data(), n * size);
  }
}

void write_data(Output& out, const Tensor& c) {
  const int64_t n = c.numel();
  if (n == 0) return;
  switch (c.dtype()) {
    case DType::UInt8: {
      const uint8_t* p = c.data_ptr<uint8_t>();
      for (int64_t i = 0; i < n; i += kChunk)
        out.write(p + i, static_cast<size_t>(std::min<int64_t>(kChunk, n - i)));
      break;
    }
    case DType::Int64:
      write_elements(out, c.data_ptr<int64_t>(), n, 4,
                     [](int64_t v) { return static_cast<uint32_t>(static_cast<int32_t>(v)); });
      break;
    case DType::Float32:
      write_elements(out, c.data_ptr<float>(), n, 4, [](float v) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        return bits;
      });
      break;
    case DType::Float64:
      write_elements(out, c.data_ptr<double>(), n, 8, [](double v) {
        uint64_t bits;
        std::memcpy(&bits, &v, 8);
        return bits;
      });
      break;
    case DType::Bool:
      break;  // refused by type_for_write
  }
}

}  // namespace

Tensor read_idx(const std::string& path) {
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) fail_file(kRead, path, "cannot open file (", std::strerror(errno), ")");
  struct stat st;
  if (::fstat(::fileno(file.get()), &st) != 0)
    fail_file(kRead, path, "cannot stat file (", std::strerror(errno), ")");
  // The size checks need a real size: directories, pipes and devices are refused.
  if (!S_ISREG(st.st_mode)) fail_file(kRead, path, "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint8_t magic[2] = {0, 0};
  size_t got = std::fread(magic, 1, 2, file.get());
  // Detected by content, not by name: a .gz that was already unpacked still reads.
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    uint32_t isize = gzip_isize(path, file.get(), file_size);
    file.reset();
    return read_gzip(path, isize);
  }
  if (std::fseek(file.get(), 0, SEEK_SET) != 0)
    fail_file(kRead, path, "cannot seek (", std::strerror(errno), ")");
  return read_raw(path, std::move(file), file_size);
}

void write_idx(const std::string& path, const Tensor& tensor, bool gzip) {
  const IdxType& type = type_for_write(path, tensor);
  Tensor c = tensor.detach().contiguous();
  if (c.dtype() == DType::Int64) check_fits_int32(path, c);
  // Everything is checked before the file is created. A write that fails midway leaves a
  // partial file, which read_idx rejects as truncated since the header records the size.
  std::unique_ptr<Output> out;
  if (gzip) {
    out = std::make_unique<GzOutput>(path);
  } else {
    out = std::make_unique<RawOutput>(path);
  }
  write_header(*out, type, c.shape());
  write_data(*out, c);
  out->close();
}

}  // namespace glassbox::datasets
