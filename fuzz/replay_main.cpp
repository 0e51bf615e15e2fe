// The replay driver: a main() for a fuzz target in the ordinary builds (no libFuzzer), so the
// committed seeds and every past finding run as a test in the release and the ASan+UBSan
// builds. It calls LLVMFuzzerTestOneInput once per file of the folders (or files) given, the
// way libFuzzer calls it: the bytes in a heap block of exactly their size, so a read one past
// the end is an ASan report here too.
//
// What counts as a failure mirrors scripts/fuzz.sh's libFuzzer flags, so a seed that passes
// here passes there: an exception escaping the target (the targets catch glassbox::Error
// themselves), a crash or sanitizer report (the process dies: the "replaying" line before it
// names the file), more than GLASSBOX_FUZZ_TIMEOUT seconds on one input (default 30: the
// fuzzer's 10 s plus room for the slower sanitizer builds), or a peak RSS over 2 GiB. A single
// allocation over 2 GiB fails too: under ASan through max_allocation_size_mb, elsewhere
// through a 3 GiB address-space limit that makes it fail (std::bad_alloc, or the tensor
// allocator's Error, which the targets report: fuzz_util.h, refused()).
//
// A folder that does not exist is skipped (a target with no past findings has no regressions
// folder), but finding no input at all is a failure, so a wrong path cannot pass silently.
// Hidden files (".gitkeep") are skipped.
#include <cxxabi.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <typeinfo>
#include <thread>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define GLASSBOX_REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GLASSBOX_REPLAY_ASAN 1
#endif
#endif

#ifdef GLASSBOX_REPLAY_ASAN
// Read by ASan at start-up; ASAN_OPTIONS from the environment still override it.
extern "C" const char* __asan_default_options() { return "max_allocation_size_mb=2048"; }
#endif

namespace {

namespace fs = std::filesystem;
constexpr long kMaxRssKiB = 2L << 20;  // 2 GiB, scripts/fuzz.sh's -rss_limit_mb=2048

void on_timeout(int) {
  static const char msg[] = "fuzz replay: TIMEOUT on the input named above\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::_exit(1);
}

// Without ASan (which reserves terabytes of address space for its shadow), an address-space
// cap turns an allocation past the limit into std::bad_alloc, which is then reported.
void limit_memory() {
#ifndef GLASSBOX_REPLAY_ASAN
  // 2 GiB of data plus the program, and per core an OpenMP thread's stack and a malloc arena's
  // reservation (address space, not memory: 64 MiB each), so a many-core host is not refused
  const rlim_t cores = std::max(1u, std::thread::hardware_concurrency());
  const rlim_t cap = (rlim_t{3} << 30) + cores * (rlim_t{256} << 20);
  rlimit lim{};
  if (::getrlimit(RLIMIT_AS, &lim) == 0 && (lim.rlim_max == RLIM_INFINITY || lim.rlim_max > cap)) {
    lim.rlim_cur = cap;
    ::setrlimit(RLIMIT_AS, &lim);
  }
#endif
}

std::vector<fs::path> inputs_in(const std::vector<std::string>& args) {
  std::vector<fs::path> files;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> here;
      for (const auto& e : fs::recursive_directory_iterator(arg))
        if (e.is_regular_file() && e.path().filename().string().rfind('.', 0) != 0)
          here.push_back(e.path());
      std::sort(here.begin(), here.end());
      files.insert(files.end(), here.begin(), here.end());
    } else {
      std::fprintf(stderr, "fuzz replay: %s: no such file or folder, skipped\n", arg.c_str());
    }
  }
  return files;
}

std::string demangled(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> s(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                           std::free);
  return status == 0 && s ? s.get() : name;
}

// Runs one input; returns an empty string when it passed, else what went wrong.
std::string replay(const fs::path& file, unsigned timeout_s) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  if (!in.eof() && in.fail()) return "cannot read the file";
  std::unique_ptr<uint8_t[]> data(new uint8_t[bytes.size()]);  // exactly sized, never null
  std::copy(bytes.begin(), bytes.end(), data.get());
  ::alarm(timeout_s);
  try {
    LLVMFuzzerTestOneInput(data.get(), bytes.size());
  } catch (const std::exception& e) {
    ::alarm(0);
    return "uncaught " + demangled(typeid(e).name()) + ": " + std::string(e.what()).substr(0, 200);
  } catch (...) {
    ::alarm(0);
    return "uncaught exception of a type not derived from std::exception";
  }
  ::alarm(0);
  // ru_maxrss is the process's peak so far: blame only the input that first crossed the limit
  static long peak_before = 0;
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const bool crossed = usage.ru_maxrss > kMaxRssKiB && peak_before <= kMaxRssKiB;
  peak_before = usage.ru_maxrss;
  if (crossed)
    return "peak RSS " + std::to_string(usage.ru_maxrss >> 10) + " MiB, over the 2048 MiB limit";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "usage: %s FOLDER_OR_FILE...\n", argv[0]);
    return 2;
  }
  const char* t = std::getenv("GLASSBOX_FUZZ_TIMEOUT");
  const unsigned timeout_s = t && std::atoi(t) > 0 ? static_cast<unsigned>(std::atoi(t)) : 30;
  ::signal(SIGALRM, on_timeout);
  limit_memory();

  const std::vector<fs::path> files = inputs_in(args);
  if (files.empty()) {
    std::fprintf(stderr, "fuzz replay: no input files found\n");
    return 1;
  }
  int failed = 0;
  for (const fs::path& file : files) {
    std::fprintf(stderr, "replaying %s\n", file.c_str());
    const std::string problem = replay(file, timeout_s);
    if (!problem.empty()) {
      ++failed;
      std::fprintf(stderr, "FAIL %s: %s\n", file.c_str(), problem.c_str());
    }
  }
  std::fprintf(stderr, "fuzz replay: %zu inputs, %d failed\n", files.size(), failed);
  return failed == 0 ? 0 : 1;
}
