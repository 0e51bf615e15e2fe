#pragma once
// Resource limits that let tests provoke a full disk or an out-of-memory without root.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "core/error.h"

namespace test_limits {

// Runs `body` with this process's files limited to `limit` bytes and SIGXFSZ ignored, so a
// write past it fails with EFBIG, as on a full disk; both are restored after. In-process, not
// in a forked child: a child of a process that has run OpenMP regions hangs in its next one.
// Returns the glassbox::Error's message, "another exception", or "ok".
template <class F>
std::string with_file_size_limit(rlim_t limit, F body) {
  struct rlimit old {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  struct rlimit rl = old;
  rl.rlim_cur = limit;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &rl) == 0);
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  std::string message = "ok";
  try {
    body();
  } catch (const glassbox::Error& e) {
    message = e.what();
  } catch (...) {
    message = "another exception";
  }
  ::signal(SIGXFSZ, old_handler);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &old) == 0);
  return message;
}

// For a forked child: caps its address space at what it maps now plus `extra` bytes, so an
// allocation the input cannot justify fails. False when the limit cannot be set.
inline bool limit_address_space_to_current_plus(rlim_t extra) {
  long pages = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  const rlim_t limit =
      static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + extra;
  const struct rlimit rl = {limit, limit};
  return ::setrlimit(RLIMIT_AS, &rl) == 0;
}

}  // namespace test_limits
