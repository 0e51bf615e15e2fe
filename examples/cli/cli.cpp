// The shared command-line rules of cli.h. Numbers go through std::from_chars after a
// character check of our own: from_chars alone would read "inf", "nan" and (for reals) a
// locale-free but overlong exponent, and std::stoi/stod throw std::invalid_argument /
// std::out_of_range that used to escape main. Paths are checked with stat() and real probes
// rather than access(): tests and users may run as root, for whom access() says everything
// is writable, while a read-only file system still refuses the write.
#include "cli.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <new>
#include <thread>

namespace glassbox::cli {

namespace fs = std::filesystem;

std::string quoted(const std::string& s, size_t max) {
  if (s.size() <= max) return "'" + clip(s, max) + "'";
  return "'" + clip(s, max) + "' (" + std::to_string(s.size()) + " characters)";
}

namespace {

bool all_digits(const std::string& s, size_t from, size_t to) {
  if (from >= to) return false;
  for (size_t i = from; i < to; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// [+-]? digits* ('.' digits*)? ([eE] [+-]? digits+)?, with at least one mantissa digit.
bool is_decimal_real(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!all_digits(s, i, s.size())) return false;
    return true;
  }
  return i == s.size();
}

std::string range_text(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) return str("a whole number of at least ", min);
  return str("a whole number from ", min, " to ", max);
}

}  // namespace

int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max) {
  const size_t start = (!text.empty() && text[0] == '-') ? 1 : 0;
  int64_t v = 0;
  bool ok = all_digits(text, start, text.size());
  if (ok) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    ok = ec == std::errc() && ptr == text.data() + text.size();
    // Digits only but too many for 64 bits: out of range, not "not a number".
    if (!ok && ec == std::errc::result_out_of_range)
      throw UsageError(str(flag, " must be ", range_text(min, max), ", got ", quoted(text)));
  }
  if (!ok)
    throw UsageError(
        str(flag, " expects ", range_text(min, max), " (decimal digits), got ", quoted(text)));
  if (v < min || v > max)
    throw UsageError(str(flag, " must be ", range_text(min, max), ", got ", quoted(text)));
  return v;
}

double parse_real(const std::string& flag, const std::string& text, double min, double max,
                  bool min_exclusive) {
  const std::string range = str(min_exclusive ? "greater than " : "from ", min,
                                min_exclusive ? " and at most " : " to ", max);
  if (!is_decimal_real(text))
    throw UsageError(str(flag, " expects a decimal number ", range, " (like 0.001 or 1e-3), got ",
                         quoted(text)));
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  double v = 0;
  auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), v);
  // Out of range: an overflow ("1e999") or an underflow to 0 or a denormal ("1e-999").
  const bool ok = ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(v);
  if (!ok || v < min || v > max || (min_exclusive && v == min))
    throw UsageError(str(flag, " must be a number ", range, ", got ", quoted(text)));
  return v;
}

int max_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return 4 * static_cast<int>(cores > 0 ? cores : 1);
}

Device device_flag(const std::string& flag, const std::string& value) {
  if (value.size() > 100)
    throw UsageError(str(flag, " expects cpu, cuda or cuda:N, got ", quoted(value)));
  try {
    return usable_device(value, flag.c_str());
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

F::ConvAlgo conv_algo_flag(const std::string& flag, const std::string& value) {
  for (const char* name : {"auto", "direct", "shiftgemm", "im2col", "flat"})
    if (value == name) return F::parse_conv_algo(value);
  throw UsageError(
      str(flag, " expects auto, direct, shiftgemm, im2col or flat, got ", quoted(value)));
}

// --- flags -------------------------------------------------------------------------------

Args::Args(int argc, char** argv, const std::vector<FlagSpec>& table) {
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (only_positional || arg == "-" || arg.empty() || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      return;
    }
    if (arg.rfind("--", 0) != 0) throw UsageError(str("unknown option ", quoted(arg)));
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& f : table)
      if (name == f.name) spec = &f;
    if (spec == nullptr) throw UsageError(str("unknown option ", quoted("--" + name)));
    const std::string flag = "--" + name;
    if (!spec->takes_value && inline_value) throw UsageError(flag + " takes no value");
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      value = argv[++i];
      // "--save --epochs 3" would otherwise write a file called "--epochs".
      if (value.rfind("--", 0) == 0 && value.size() > 2)
        throw UsageError(str(flag, " needs a value, got the option ", quoted(value), " (write ",
                             flag, "=VALUE for a value starting with --)"));
    }
    // "--resume $UNSET" would otherwise quietly mean no --resume, and a fresh run could then
    // overwrite the checkpoint the user meant to continue
    if (spec->takes_value && value.empty())
      throw UsageError(flag + " needs a value, got an empty one");
    if (!spec->repeatable && values_.count(name))
      throw UsageError(str(flag, " is given twice (it takes one value)"));
    values_[name].push_back(value);
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
  return has(name) ? parse_int("--" + name, get(name), min, max) : fallback;
}

double Args::get_real(const std::string& name, double fallback, double min, double max,
                      bool min_exclusive) const {
  return has(name) ? parse_real("--" + name, get(name), min, max, min_exclusive) : fallback;
}

// --- paths -------------------------------------------------------------------------------

namespace {

// What a non-regular file is, in words.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string folder_of(const std::string& path) {
  const std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

void check_input_file(const std::string& what, const std::string& path) {
  const std::string name = what + " " + quoted(path);
  GB_CHECK(!path.empty(), what, ": the file name is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    GB_CHECK(err != ENOENT, name, ": no such file");
    fail(str(name, ": cannot read it: ", std::strerror(err)));
  }
  GB_CHECK(S_ISREG(st.st_mode), name, " is ", kind_of(st.st_mode), ", not a regular file");
  // A regular file never blocks on open, so this is safe; it catches permissions (not root).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(str(name, ": cannot open it for reading: ", std::strerror(errno)));
  ::close(fd);
  GB_CHECK(st.st_size > 0, name, " is empty (0 bytes)");
}

void check_output_file(const std::string& what, const std::string& path) {
  const std::string name = what + " " + quoted(path);
  GB_CHECK(!path.empty(), what, ": the file name is empty");
  GB_CHECK(path.back() != '/', name, " names a folder; give a file name");
  const std::string folder = folder_of(path);
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0) {
    const int err = errno;
    GB_CHECK(err != ENOENT, name, ": the folder ", quoted(folder), " does not exist");
    fail(str(name, ": cannot use the folder ", quoted(folder), ": ", std::strerror(err)));
  }
  GB_CHECK(S_ISDIR(st.st_mode), name, ": ", quoted(folder), " is not a folder");
  if (::stat(path.c_str(), &st) == 0) {
    GB_CHECK(!S_ISDIR(st.st_mode), name, " is a folder; give a file name (e.g. ",
             quoted((fs::path(path) / "out").string()), ")");
    GB_CHECK(S_ISREG(st.st_mode), name, " is ", kind_of(st.st_mode),
             "; refusing to replace it (give a regular file)");
    // Opened without O_TRUNC: the existing contents stay as they are.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(str(name, " exists and cannot be written: ", std::strerror(errno)));
    ::close(fd);
  }
  // Saves write a temporary file next to the target and rename it, so the folder itself must
  // take new files: try it (access() would say yes to root on a read-only file system).
  std::string probe = (fs::path(folder) / ".glassbox-write-test-XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    fail(str(name, ": cannot create files in the folder ", quoted(folder), ": ",
             std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs) {
  std::vector<std::pair<std::string, fs::path>> seen;
  for (const auto& [what, path] : outputs) {
    if (path.empty()) continue;
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    if (ec) canonical = fs::absolute(path).lexically_normal();
    for (const auto& [other, other_path] : seen)
      GB_CHECK(other_path != canonical, other, " and ", what, " both name ", quoted(path),
               "; give each output its own file");
    seen.emplace_back(what, canonical);
  }
}

// --- the lock ----------------------------------------------------------------------------

RunLock::RunLock(const std::string& target, const std::string& program)
    : lock_path_(target + ".lock") {
  // Retried only in a race: the previous owner removed the file between our open and flock,
  // so we locked a file nobody else can see. The inode check catches that.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      fail(str("cannot create the lock file ", quoted(lock_path_), " for ", quoted(target), ": ",
               std::strerror(errno)));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      char buf[32] = {};
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      if (err != EWOULDBLOCK)
        fail(str("cannot lock ", quoted(lock_path_), ": ", std::strerror(err)));
      const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
      fail(str("another ", program, " run", pid > 0 ? str(" (pid ", pid, ")") : std::string(),
               " is saving to ", quoted(target), "; wait for it to finish or choose another file"));
    }
    struct stat held {
    }, now{};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &now) == 0 &&
        held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
        // The lock holds without the pid; the message of a second run just lacks it.
      }
      fd_ = fd;
      return;
    }
    ::close(fd);
  }
  fail(str("cannot lock ", quoted(lock_path_), ": it keeps being replaced"));
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still holding it: see the inode check above
  ::close(fd_);
}

// --- main --------------------------------------------------------------------------------

namespace {
std::string& activity() {
  static std::string current;
  return current;
}
}  // namespace

void doing(const std::string& what) { activity() = what; }

namespace {
std::string during() { return activity().empty() ? "" : " while " + activity(); }
}  // namespace

int run_main(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << program << ": " << e.what() << " (see " << program << " --help)" << std::endl;
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << program << ": out of memory" << during() << std::endl;
    return 1;
  } catch (const Error& e) {
    std::cerr << program << ": " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << program << ": failed" << during() << ": " << e.what() << std::endl;
    return 1;
  } catch (...) {
    std::cerr << program << ": failed with an unknown exception" << during() << std::endl;
    return 1;
  }
}

}  // namespace glassbox::cli
