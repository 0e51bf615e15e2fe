#pragma once
// What the fuzz targets share: the contract every target checks, and a scratch file for the
// readers that take a path.
//
// The contract, for any bytes at all: a reader either returns a value or throws
// glassbox::Error (the bad-input outcome, so a target catches exactly that). Anything else is a
// finding: a crash or sanitizer report, another exception type escaping (std::bad_alloc,
// std::out_of_range, nlohmann's exceptions: the user would see "terminate called"), a leak, a
// hang (libFuzzer's -timeout) or a peak RSS past -rss_limit_mb. A target that checks a
// property of a successful result (a round trip, raw vs gzip) reports a violation with
// finding(), which aborts so libFuzzer saves the input; so does refused() for an Error that
// is really the allocator running out of memory.
//
// The scratch file: one per process (the pid in its name, so libFuzzer's -jobs/-fork workers
// do not share one), in /dev/shm when it is there (no disk traffic at thousands of executions
// per second), else $TMPDIR, else /tmp. It is rewritten for every input and removed at exit.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace glassbox::fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
  std::abort();
}

// Every target passes the glassbox::Error it catches through here. An Error is the expected
// outcome, except the allocator's own: "out of CPU memory" or a size overflow means the reader
// asked for memory the input cannot justify (under libFuzzer, -malloc_limit_mb stops it before;
// in the replay, an address-space cap makes the allocation fail, and this catches it).
inline void refused(const std::exception& e) {
  // a prefix, not a search: messages quote bits of the input, and the fuzzer learns strings
  if (std::strncmp(e.what(), "allocate: ", 10) == 0)
    finding(std::string("a reader asked for more memory than the input justifies: ") +
            std::string(e.what()).substr(0, 200));
}

inline std::string scratch_dir() {
  if (::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

// A file that holds the current input; `suffix` tells names apart when a target needs two.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& suffix)
      : path_(scratch_dir() + "/glassbox_fuzz_" + std::to_string(::getpid()) + suffix) {}
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's contents with `size` bytes; a failure here is the machine's, not the
  // input's, so it stops the run instead of passing for a finding in the library.
  const std::string& write(const uint8_t* data, size_t size) const {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    bool ok = f && (size == 0 || std::fwrite(data, 1, size, f) == size);
    ok = f && std::fclose(f) == 0 && ok;
    if (!ok) {
      std::fprintf(stderr, "fuzz: cannot write the scratch file %s\n", path_.c_str());
      std::exit(2);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace glassbox::fuzz
