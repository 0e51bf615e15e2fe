// MNIST / Fashion-MNIST: the data set facts (file names, MD5s, mirrors), the reader that checks
// the files before trusting them, and locate_dataset, which finds the files or downloads them.
//
// A download must never leave half a data set behind that a later run could mistake for the
// real one, nor an empty folder that looks like one: each file goes to a uniquely named
// temporary file next to its destination, is MD5-checked, and only then renamed into place
// (atomic on one file system). On failure the temporary file is removed, and so is every
// folder this run created that is still empty; a folder that received a verified file stays,
// so the next run resumes. The error lists every URL tried and why each failed (the reason is
// curl's own error line, truncated, or wget's exit status in words).
#include "datasets/mnist.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "datasets/idx.h"
#include "datasets/md5.h"

extern char** environ;

namespace glassbox::datasets {
namespace fs = std::filesystem;

const IdxDatasetInfo& mnist_info() {
  static const IdxDatasetInfo info{
      "MNIST",
      {{{"train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "6bbc9ace898e44ae57da46a324031adb"},
        {"train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432",
         "a25bea736e30d166cdddb491f175f624"},
        {"t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3",
         "2646ac647ad5339dbf082846283269ea"},
        {"t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c",
         "27ae3e4e09519cfbb04c329615203637"}}},
      {0.1307, 0.3081},
      {"https://ossci-datasets.s3.amazonaws.com/mnist/",
       "https://storage.googleapis.com/cvdf-datasets/mnist/", "http://yann.lecun.com/exdb/mnist/"},
      {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}};
  return info;
}

// The .gz MD5s are the published ones; the payload MD5s are those of the same data as Debian's
// dataset-fashion-mnist ships it (recompressed, so its .gz MD5s differ).
const IdxDatasetInfo& fashion_mnist_info() {
  static const IdxDatasetInfo info{"Fashion-MNIST",
                                   {{{"train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                      "f4a8712d7a061bf5bd6d2ca38dc4d50a"},
                                     {"train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
                                      "9018921c3c673c538a1fc5bad174d6f9"},
                                     {"t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
                                      "8181f5470baa50b63fa0f6fddb340f0a"},
                                     {"t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
                                      "15d484375f8d13e6eb1aabb0c3f46965"}}},
                                   {0.2860, 0.3530},
                                   {"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
                                   {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                    "Shirt", "Sneaker", "Bag", "Ankle boot"}};
  return info;
}

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// dir/name.gz if present, else dir/name, else "".
std::string find_file(const std::string& dir, const DataFile& file) {
  for (const std::string& candidate :
       {(fs::path(dir) / file.name).string() + ".gz", (fs::path(dir) / file.name).string()}) {
    if (is_file(candidate)) return candidate;
  }
  return "";
}

// The most a canonical payload can decompress to (the largest, train images, is 47 MB): a
// .gz that decompresses to more is not the canonical file, and hashing stops there, so a
// gzip bomb under a data file's name costs bounded time and no memory.
constexpr uint64_t kMaxPayloadBytes = uint64_t{256} << 20;

// MD5 of the decompressed contents of a .gz file, streamed ("" if it is not a readable gzip
// file or decompresses to more than kMaxPayloadBytes).
std::string gunzip_md5(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) return "";
  std::vector<unsigned char> chunk(1 << 20);
  Md5 md5;
  uint64_t total = 0;
  int n;
  while ((n = gzread(gz, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0) {
    md5.update(chunk.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    if (total > kMaxPayloadBytes) break;
  }
  const bool ok = n == 0 && total <= kMaxPayloadBytes;
  gzclose(gz);
  return ok ? md5.hex_digest() : "";
}

// At most this much of a program's error output goes into a message (it is not ours to trust).
constexpr size_t kMaxReason = 200;

std::string last_line_truncated(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const size_t nl = text.rfind('\n');
  if (nl != std::string::npos) text.erase(0, nl + 1);  // the last line says what failed
  if (text.size() > kMaxReason) text = text.substr(0, kMaxReason) + "...";
  return text;
}

// Runs argv[0] from PATH with stdout discarded and stderr captured; returns its exit status
// (-1: it did not start or was killed) and the last line of its error output.
struct RunResult {
  int status = -1;
  std::string error;
};
RunResult run_captured(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {-1, std::string("pipe: ") + std::strerror(errno)};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);  // dup2 clears O_CLOEXEC
  pid_t pid;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  RunResult result;
  if (rc != 0) {
    ::close(pipe_fds[0]);
    result.error = std::string("cannot run ") + args[0] + " (" + std::strerror(rc) + ")";
    return result;
  }
  // Read to EOF before waiting, so a chatty child cannot block on a full pipe; keep 4 KiB.
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (err.size() < 4096) err.append(buf, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.error = last_line_truncated(err);
  return result;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// wget prints nothing useful with -q; its exit status says which kind of failure it was.
std::string wget_reason(int status) {
  switch (status) {
    case 3:
      return "wget: cannot write the file";
    case 4:
      return "wget: network failure";
    case 5:
      return "wget: SSL verification failed";
    case 6:
      return "wget: authentication failed";
    case 8:
      return "wget: the server answered with an error (e.g. 404)";
    default:
      return "wget failed (exit status " + std::to_string(status) + ")";
  }
}

// The most a download may write: far more than any data file, far less than a disk.
constexpr const char* kMaxDownloadBytes = "268435456";  // 256 MiB

// Fetches url into dest with curl (preferred: it also reads file:// URLs) or wget. Returns ""
// on success, else why it failed. A stalled mirror is abandoned (no hang): curl after 15 s
// without a connection or 60 s below 1 KB/s, wget after 15 s of silence, twice.
std::string fetch(const std::string& url, const std::string& dest) {
  if (on_path("curl")) {
    const RunResult r =
        run_captured({"curl", "-fsSL", "--connect-timeout", "15", "--speed-limit", "1024",
                      "--speed-time", "60", "--max-filesize", kMaxDownloadBytes, "-o", dest, url});
    if (r.status == 0) return "";
    return !r.error.empty() ? r.error
                            : "curl failed (exit status " + std::to_string(r.status) + ")";
  }
  const RunResult r = run_captured({"wget", "-q", "-T", "15", "-t", "2", "-O", dest, url});
  if (r.status == 0) return "";
  return !r.error.empty() ? r.error : wget_reason(r.status);
}

// The folders a download creates, removed again (deepest first, and only while empty) unless
// the download succeeds: a failed run must not leave an empty data/mnist behind. A folder
// that received a verified file is not empty, so it stays and a later run resumes.
class CreatedDirs {
 public:
  // Creates dir and any missing parents; returns "" or what went wrong.
  std::string create(const fs::path& dir) {
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      created_.push_back(p);
      if (p == p.parent_path()) break;
    }
    fs::create_directories(dir, ec);
    if (ec) return "cannot create " + dir.string() + " (" + ec.message() + ")";
    return "";
  }
  void keep() { created_.clear(); }
  ~CreatedDirs() {
    std::error_code ec;
    for (const fs::path& p : created_) fs::remove(p, ec);  // fails, harmlessly, unless empty
  }

 private:
  std::vector<fs::path> created_;  // deepest first
};

// A uniquely named temporary file next to the destination (so the rename is atomic and two
// concurrent downloads do not share it), removed unless it was renamed into place.
class TempFile {
 public:
  explicit TempFile(const std::string& dest) {
    const fs::path d(dest);
    std::string tmpl = (d.parent_path() / ("." + d.filename().string() + ".XXXXXX")).string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      error_ = "cannot create a temporary file next to " + dest + " (" + std::strerror(errno) + ")";
      return;
    }
    ::fchmod(fd, 0644);  // mkstemp's 0600 would make the data private to this user
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() {
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }
  // Renames the file to dest; returns "" or what went wrong.
  std::string commit(const std::string& dest) {
    std::error_code ec;
    fs::rename(path_, dest, ec);
    if (ec) return "cannot rename " + path_ + " to " + dest + " (" + ec.message() + ")";
    path_.clear();
    return "";
  }

 private:
  std::string path_, error_;
};

// Downloads one file from each mirror in turn into a temporary file, MD5-checks it and renames
// it into place. Returns "" on success, else every URL tried and why it failed.
std::string download_file(const IdxDatasetInfo& info, const DataFile& file, const fs::path& dir,
                          std::ostream* log) {
  const std::string dest = (dir / file.name).string() + ".gz";
  std::string tried;
  for (const char* mirror : info.mirrors) {
    const std::string url = std::string(mirror) + file.name + ".gz";
    if (log) *log << "downloading " << url << "\n";
    TempFile part(dest);
    if (!part.error().empty()) return part.error();
    std::string problem = fetch(url, part.path());
    if (problem.empty()) problem = check_md5(part.path(), file);
    if (problem.empty()) return part.commit(dest);
    tried += "\n  " + url + ": " + problem;
  }
  if (info.mirrors.empty()) tried = " no mirror is known";
  return std::string("could not download ") + file.name + ".gz, tried:" + tried;
}

// Downloads the four files into dir, each verified before it is renamed into place. Returns
// "" on success, else what went wrong; then no temporary file is left, and no folder this
// run created unless a verified file landed in it.
std::string download(const IdxDatasetInfo& info, const std::string& dir, std::ostream* log) {
  if (!on_path("curl") && !on_path("wget")) return "neither curl nor wget is installed";
  CreatedDirs created;
  std::string problem = created.create(dir);
  if (!problem.empty()) return problem;
  int kept = 0;
  for (const DataFile& file : info.files) {
    const std::string dest = (fs::path(dir) / file.name).string() + ".gz";
    if (is_file(dest) && check_md5(dest, file).empty()) {
      ++kept;
      continue;
    }
    problem = download_file(info, file, dir, log);
    if (!problem.empty()) {
      if (kept > 0)
        problem += "\n  (kept the " + std::to_string(kept) + " verified file" +
                   (kept > 1 ? "s" : "") + " already in " + dir + "; a new run resumes)";
      return problem;
    }
    ++kept;
  }
  created.keep();
  return "";
}

// "" if dir holds all four files with the right MD5s; "missing" if any is absent; else the
// problem (a damaged or foreign file).
std::string check_dir(const IdxDatasetInfo& info, const std::string& dir) {
  for (const DataFile& file : info.files)
    if (find_file(dir, file).empty()) return "missing";
  for (const DataFile& file : info.files) {
    const std::string path = find_file(dir, file);
    const std::string problem = check_md5(path, file);
    if (!problem.empty()) return path + ": " + problem;
  }
  return "";
}

}  // namespace

std::string check_md5(const std::string& path, const DataFile& file) {
  const std::string md5 = md5_file(path);
  if (md5 == file.gz_md5 || md5 == file.raw_md5) return "";
  // A recompressed copy of the right data (e.g. Debian's) has another .gz MD5: check its payload.
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0 &&
      gunzip_md5(path) == file.raw_md5)
    return "";
  return "MD5 " + md5 + " is not the canonical " + file.gz_md5 + " (.gz) or " + file.raw_md5 +
         " (uncompressed): the file is damaged or not the canonical " + file.name;
}

std::vector<std::string> default_candidates(const IdxDatasetInfo& info) {
  if (std::string(info.name) == fashion_mnist_info().name)
    return {"data/fashion-mnist", "/usr/share/datasets/fashion-mnist"};
  return {"data/mnist", "../shared/data/mnist"};
}

std::string locate_dataset(const IdxDatasetInfo& info, const LocateOptions& options) {
  const std::string what = std::string(info.name);
  if (!options.explicit_dir.empty()) {
    const std::string problem = check_dir(info, options.explicit_dir);
    GB_CHECK(problem.empty(), what, ": ",
             problem == "missing" ? options.explicit_dir + " does not hold the four files (" +
                                        info.files[0].name + "[.gz], ...)"
                                  : problem);
    return options.explicit_dir;
  }
  std::string tried;
  for (const std::string& dir : options.candidates) {
    const std::string problem = check_dir(info, dir);
    if (problem.empty()) {
      if (options.log) *options.log << "using " << what << " from " << dir << "\n";
      return dir;
    }
    GB_CHECK(problem == "missing", what, ": ", problem);
    tried += " " + dir;
  }
  std::string download_problem = "download not allowed";
  if (options.allow_download && !options.download_dir.empty()) {
    download_problem = download(info, options.download_dir, options.log);
    if (download_problem.empty()) return options.download_dir;
  }
  std::string files;
  for (const DataFile& file : info.files) files += std::string(" ") + file.name + ".gz";
  throw Error(what + ": data not found (looked in:" + tried + "); " + download_problem +
              ". Put the four files (" + files.substr(1) +
              ") in one folder and pass --data FOLDER, or into " +
              (options.candidates.empty() ? std::string("data/mnist") : options.candidates[0]) +
              "/");
}

MNIST::MNIST(const std::string& root, Split split, std::optional<Normalize> normalize,
             bool verify_md5)
    : MNIST(mnist_info(), root, split, normalize, verify_md5) {}

FashionMNIST::FashionMNIST(const std::string& root, Split split, std::optional<Normalize> normalize,
                           bool verify_md5)
    : MNIST(fashion_mnist_info(), root, split, normalize, verify_md5) {}

MNIST::MNIST(const IdxDatasetInfo& info, const std::string& root, Split split,
             std::optional<Normalize> normalize, bool verify_md5)
    : info_(&info), normalize_(normalize) {
  const int first = split == Split::Train ? 0 : 2;
  std::string paths[2];
  for (int i = 0; i < 2; ++i) {
    const DataFile& file = info.files[first + i];
    paths[i] = find_file(root, file);
    GB_CHECK(!paths[i].empty(), info.name, ": neither ", (fs::path(root) / file.name).string(),
             ".gz nor ", (fs::path(root) / file.name).string(), " exists");
    if (verify_md5) {
      const std::string problem = check_md5(paths[i], file);
      GB_CHECK(problem.empty(), info.name, ": ", paths[i], ": ", problem);
    }
  }
  images_ = read_idx(paths[0]);
  Tensor labels = read_idx(paths[1]);
  GB_CHECK(images_.dtype() == DType::UInt8 && images_.dim() == 3 && images_.size(1) == 28 &&
               images_.size(2) == 28,
           info.name, ": ", paths[0], " holds ", dtype_name(images_.dtype()), " ",
           images_.shape_str(), ", expected uint8 [N,28,28] images");
  GB_CHECK(labels.dtype() == DType::UInt8 && labels.dim() == 1, info.name, ": ", paths[1],
           " holds ", dtype_name(labels.dtype()), " ", labels.shape_str(),
           ", expected uint8 [N] labels");
  GB_CHECK(labels.size(0) == images_.size(0), info.name, ": ", paths[0], " has ", images_.size(0),
           " images but ", paths[1], " has ", labels.size(0), " labels");
  const uint8_t* l = labels.data_ptr<uint8_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    GB_CHECK(l[i] < 10, info.name, ": ", paths[1], ": label ", int(l[i]), " at index ", i,
             " is not a class 0-9");
  targets_ = labels.to(DType::Int64);
  const Normalize n = normalize.value_or(Normalize{});
  GB_CHECK(n.std > 0, info.name, ": Normalize std must be positive, got ", n.std);
  for (int v = 0; v < 256; ++v) lut_[v] = static_cast<float>((v / 255.0 - n.mean) / n.std);
}

Batch MNIST::get_batch(const std::vector<int64_t>& indices) const {
  const int64_t b = static_cast<int64_t>(indices.size()), pixels = 28 * 28;
  Tensor data = empty({b, 1, 28, 28}, dtype(DType::Float32));
  Tensor target = empty({b}, dtype(DType::Int64));
  float* d = data.data_ptr<float>();
  int64_t* t = target.data_ptr<int64_t>();
  const uint8_t* images = images_.data_ptr<uint8_t>();
  const int64_t* targets = targets_.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = indices[i];
    GB_CHECK(k >= 0 && k < size(), info_->name, ": index ", k, " out of range for ", size(),
             " examples");
    const uint8_t* image = images + k * pixels;
    for (int64_t p = 0; p < pixels; ++p) d[i * pixels + p] = lut_[image[p]];
    t[i] = targets[k];
  }
  return {data, target};
}

Tensor MNIST::byte_table() const {
  return from_vector(std::vector<float>(lut_.begin(), lut_.end()), {256});
}

MNIST MNIST::head(int64_t n) const {
  GB_CHECK(n >= 0 && n <= size(), info_->name, ": head(", n, ") of ", size(), " examples");
  MNIST subset(*this);
  subset.images_ = images_.narrow(0, 0, n);
  subset.targets_ = targets_.narrow(0, 0, n);
  return subset;
}

}  // namespace glassbox::datasets
