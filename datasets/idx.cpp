// IDX reader and writer (the format and the reader's promises are in idx.h).
//
// The reader trusts nothing in a file until it has been checked against something else.
//
// Which files: only regular files. The path is opened with O_NONBLOCK (so a FIFO without a
// writer cannot block the open), fstat'ed, and anything else -- a FIFO, /dev/zero, a
// directory -- is refused before a byte is read. Everything after that reads the same
// descriptor, so the file checked is the file read.
//
// How much memory, raw: the dimensions are checked against the file size before the tensor
// is allocated, so the allocation is at most the file's size (and a file that shrinks while
// it is read fails as truncated).
//
// How much memory, gzip: the trailer's size field (ISIZE) cannot be trusted -- it is 4
// forgeable bytes, mod 2^32 -- so the reader bounds the allocation by what the compressed
// bytes can really produce. Deflate's densest code spends 1 bit on the length symbol of a
// 258-byte match and 1 bit on its distance symbol (Huffman codes are 1..15 bits; length 258
// and distances 1..4 have no extra bits), so no deflate stream yields more than 258 bytes per
// 2 input bits: 129 bytes per bit, 1032 per byte. Literals (>= 1 bit per byte), stored blocks
// (8 bits per byte), block headers, the gzip header and trailer and any further members only
// yield less, so a gzip file of C bytes decompresses to at most M = 1032 * C bytes, with no
// constant to add. A header declaring more than M (header included) is an Error before any
// allocation: the 33-byte file claiming 16 GiB fails at once.
//
// A header within M can still lie (a 1 MB file may claim 1 GB and hold 1 MB), so the tensor
// is not allocated at its declared size up front: it starts with room for min(declared,
// 4 MiB + 8 * C) bytes of file data -- 8:1 covers real IDX data (MNIST is ~5:1), which then
// takes exactly one allocation -- and doubles, capped at the declared size, only as data
// arrives. Whatever the header says, the buffer holds room for at most about twice the data
// the stream has really produced, or 4 MiB + 8 * C (in memory, times 8 / the file's width for
// the integer types that widen to int64).
// Each growth copies what was read into the larger buffer; the alternative, collecting
// chunks and allocating the tensor at the end, copies everything once and holds twice the
// data at the end too. Since the last buffer is exactly the declared size, it becomes the
// tensor (a view), with no second full copy. The 16 GiB per-tensor cap still applies.
//
// The data is checked against the end of the stream after reading, so a cut-off or padded
// file is not silently accepted; zlib checks each member's CRC and length. Multi-byte values
// are assembled byte by byte, so any host byte order works.
#include "datasets/idx.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"

namespace glassbox::datasets {
namespace {

constexpr const char* kRead = "read_idx";
constexpr const char* kWrite = "write_idx";
constexpr size_t kChunk = size_t{1} << 20;  // bytes per read or write call
// Larger than any IDX data set in use; a header asking for more is corrupt, not big data.
constexpr uint64_t kMaxTensorBytes = uint64_t{16} << 30;
// Deflate's maximum expansion (see the top of the file).
constexpr uint64_t kMaxDeflateRatio = 1032;
// The first gzip buffer: kFirstGrowth + kTrustedRatio * compressed size (see the top).
constexpr uint64_t kFirstGrowth = uint64_t{4} << 20;
constexpr uint64_t kTrustedRatio = 8;
// Bytes after the data are counted up to this many, so the message can say how many without
// a gzip bomb costing unbounded time.
constexpr uint64_t kTailCount = uint64_t{64} << 20;

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

// A descriptor closed at scope exit unless handed on.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

// Opens path for reading if it is a regular file; its size goes to *size. O_NONBLOCK keeps a
// FIFO from blocking the open; for a regular file it changes nothing, and is cleared anyway.
Fd open_regular(const std::string& path, uint64_t* size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) fail_file(kRead, path, "cannot open file (", std::strerror(errno), ")");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    fail_file(kRead, path, "cannot stat file (", std::strerror(errno), ")");
  // The size checks need a real size: directories, pipes and devices are refused.
  if (!S_ISREG(st.st_mode))
    fail_file(kRead, path, "not a regular file (it is ", file_kind(st.st_mode),
              "); an IDX file must be a regular file, raw or gzip");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

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
  RawInput(const std::string& path, Fd fd) : Input(path), file_(::fdopen(fd.get(), "rb")) {
    if (!file_) fail_file(kRead, path, "cannot open file (", std::strerror(errno), ")");
    fd.release();  // the FILE owns it now
  }
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
  // Reads the already-checked descriptor from its start (the gzip stream owns it from here).
  GzInput(const std::string& path, Fd fd) : Input(path) {
    if (::lseek(fd.get(), 0, SEEK_SET) != 0)
      fail_file(kRead, path, "cannot seek (", std::strerror(errno), ")");
    gz_ = gzdopen(fd.get(), "rb");
    if (!gz_) fail_file(kRead, path, "cannot open file (", std::strerror(errno), ")");
    fd.release();
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
  gzFile gz_ = nullptr;
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
  // `span` multiplies the non-zero dimensions only: it bounds every stride of the tensor, so
  // it must stay in range even when a zero dimension makes the tensor empty.
  uint64_t span = 1;
  bool empty = false;
  for (int64_t d : h.dims) {
    const uint64_t ud = static_cast<uint64_t>(d);
    if (ud != 0 && span > limit / ud)
      fail_file(kRead, path, "header says ", shape_str(h.dims), " ", h.type->name,
                ", more than the ", kMaxTensorBytes >> 30,
                " GiB a tensor read from an IDX file may have (corrupt header?)");
    if (ud == 0)
      empty = true;
    else
      span *= ud;
  }
  return empty ? 0 : span * h.type->disk_size;
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

// The bound at the top of the file: a header declaring more than the compressed bytes can
// produce is refused before anything is allocated.
void check_gzip_bound(const std::string& path, const Header& h, uint64_t file_size) {
  const uint64_t most =
      file_size > UINT64_MAX / kMaxDeflateRatio ? UINT64_MAX : kMaxDeflateRatio * file_size;
  const uint64_t total = h.header_bytes + h.data_bytes;
  if (total > most)
    fail_file(kRead, path, "header says ", h.describe(), " (", total,
              " bytes with the header), but a ", file_size, "-byte gzip file can hold at most ",
              most,
              " (deflate expands at most 1032:1); the header is corrupt or the file truncated");
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

// The result's storage: a 1-D tensor of the result dtype that grows, doubling and capped at
// the declared element count, only when the data read so far needs the room.
class GrowingBuffer {
 public:
  GrowingBuffer(DType dt, int64_t final_numel, int64_t first_numel)
      : dtype_(dt), final_(final_numel), buf_(empty({first_numel}, dtype(dt))) {}

  // Makes room for `numel` elements, keeping the first `kept` ones; returns the data.
  uint8_t* reserve(int64_t numel, int64_t kept) {
    if (numel > buf_.numel()) {
      const int64_t next = std::min(final_, std::max(numel, 2 * buf_.numel()));
      Tensor bigger = empty({next}, dtype(dtype_));
      std::memcpy(bigger.raw_data(), buf_.raw_data(),
                  static_cast<size_t>(kept) * dtype_size(dtype_));
      buf_ = bigger;  // the old buffer goes back to the allocator here
    }
    return static_cast<uint8_t*>(buf_.raw_data());
  }
  // Once full, the buffer becomes the tensor: a view, no copy.
  Tensor finish(const Shape& dims) const { return buf_.view(dims); }

 private:
  DType dtype_;
  int64_t final_;
  Tensor buf_;
};

// Reads the data after the header into a tensor whose storage starts at `first_bytes` (of the
// file's element size; data_bytes when the size is already known to be real) and grows.
Tensor read_data(Input& in, const Header& h, uint64_t first_bytes) {
  const DType dt = h.type->dtype;
  if (h.data_bytes == 0) return empty(h.dims, dtype(dt));
  const size_t esize = h.type->disk_size;
  const int64_t numel = static_cast<int64_t>(h.data_bytes / esize);
  const int64_t first = std::max<int64_t>(1, static_cast<int64_t>(first_bytes / esize));
  GrowingBuffer dst(dt, numel, std::min(numel, first));
  const bool same_width = esize == dtype_size(dt);
  std::vector<uint8_t> chunk(same_width ? 0 : kChunk);  // a multiple of every element size
  for (uint64_t done = 0; done < h.data_bytes;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, h.data_bytes - done));
    const int64_t have = static_cast<int64_t>(done / esize);
    uint8_t* base = dst.reserve(static_cast<int64_t>((done + n) / esize), have);
    if (same_width) {  // same width on disk and in memory: read straight into the tensor
      read_fully(in, h, base + done, n, done);
      to_host_order(base + done, n, esize);
    } else {  // narrow integers widen to int64 through the chunk buffer
      read_fully(in, h, chunk.data(), n, done);
      widen(chunk.data(), n, esize, reinterpret_cast<int64_t*>(base) + have);
    }
    done += n;
  }
  return dst.finish(h.dims);
}

// After the data the source must end. The bytes after it are counted (up to kTailCount) to
// say how many; for gzip, reading to the end also makes zlib check the CRC and length.
void check_end(Input& in, const Header& h) {
  uint8_t first;
  if (in.read(&first, 1) == 0) return;
  std::vector<uint8_t> scratch(kChunk);
  uint64_t extra = 1;
  size_t got;
  while (extra < kTailCount && (got = in.read(scratch.data(), kChunk)) > 0) extra += got;
  check_data_size(in.path(), h, h.data_bytes + extra, extra >= kTailCount);
}

Tensor read_raw(const std::string& path, Fd fd, uint64_t file_size) {
  RawInput in(path, std::move(fd));
  Header h = read_header(in);
  // header_bytes <= file_size unless the file shrank while being read; then reading reports it.
  check_data_size(path, h, file_size >= h.header_bytes ? file_size - h.header_bytes : 0, false);
  Tensor t = read_data(in, h, h.data_bytes);  // the size on disk is real: one allocation
  check_end(in, h);
  in.close();
  return t;
}

Tensor read_gzip(const std::string& path, Fd fd, uint64_t file_size) {
  constexpr uint64_t kMinGzip = 18;  // 10-byte header + 8-byte trailer
  if (file_size < kMinGzip)
    fail_file(kRead, path, "not a complete gzip stream: the file holds ", file_size,
              " bytes, a gzip file has at least ", kMinGzip);
  GzInput in(path, std::move(fd));
  Header h = read_header(in);
  check_gzip_bound(path, h, file_size);
  const uint64_t trusted = std::min(file_size, kMaxTensorBytes) * kTrustedRatio;  // no overflow
  Tensor t = read_data(in, h, kFirstGrowth + trusted);
  check_end(in, h);
  in.close();
  return t;
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

// Raw bytes, straight into the file (AtomicFile checks every write).
class RawOutput : public Output {
 public:
  RawOutput(const std::string& path, AtomicFile& file) : Output(path), file_(file) {}
  void write(const void* src, size_t n) override { file_.write(src, n); }
  void close() override {}

 private:
  AtomicFile& file_;
};

// A gzip stream: zlib's deflate with the gzip wrapper (windowBits 15 + 16), its output into
// the file a buffer at a time.
class GzOutput : public Output {
 public:
  GzOutput(const std::string& path, AtomicFile& file) : Output(path), file_(file) {
    if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
      fail_file(kWrite, path, "zlib cannot start a gzip stream (out of memory?)");
    started_ = true;
  }
  ~GzOutput() override {
    if (started_) deflateEnd(&z_);
  }
  void write(const void* src, size_t n) override { pump(src, n, Z_NO_FLUSH); }
  void close() override { pump(nullptr, 0, Z_FINISH); }

 private:
  // Deflates the input until zlib has taken it all (and, for Z_FINISH, ended the stream): zlib
  // fills the whole output buffer exactly when it may have more to give.
  void pump(const void* src, size_t n, int flush) {
    z_.next_in = static_cast<Bytef*>(const_cast<void*>(src));
    z_.avail_in = static_cast<uInt>(n);  // n <= kChunk
    do {
      z_.next_out = out_.data();
      z_.avail_out = static_cast<uInt>(out_.size());
      if (deflate(&z_, flush) == Z_STREAM_ERROR) fail_file(kWrite, path_, "zlib's deflate failed");
      file_.write(out_.data(), out_.size() - z_.avail_out);
    } while (z_.avail_out == 0);
  }

  AtomicFile& file_;
  z_stream z_{};
  bool started_ = false;
  std::vector<Bytef> out_ = std::vector<Bytef>(size_t{1} << 16);
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
  uint64_t file_size = 0;
  Fd fd = open_regular(path, &file_size);
  uint8_t magic[2] = {0, 0};
  const ssize_t got = ::pread(fd.get(), magic, 2, 0);
  if (got < 0) fail_file(kRead, path, "read error (", std::strerror(errno), ")");
  // Detected by content, not by name: a .gz that was already unpacked still reads.
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
    return read_gzip(path, std::move(fd), file_size);
  return read_raw(path, std::move(fd), file_size);
}

void write_idx(const std::string& path, const Tensor& tensor, bool gzip) {
  const IdxType& type = type_for_write(path, tensor);
  Tensor c = tensor.detach().contiguous();
  if (c.dtype() == DType::Int64) check_fits_int32(path, c);
  // Everything is checked before the file is created, and it is written atomically: a write
  // that fails midway (a full disk) leaves the previous file, never a partial one.
  AtomicFile file(path, str(kWrite, ": ", path, ": cannot write the file"));
  std::unique_ptr<Output> out;
  if (gzip) {
    out = std::make_unique<GzOutput>(path, file);
  } else {
    out = std::make_unique<RawOutput>(path, file);
  }
  write_header(*out, type, c.shape());
  write_data(*out, c);
  out->close();
  file.commit();
}

}  // namespace glassbox::datasets
