// What the command-line programs (mnist, mnist_plot, predict, filters) share, so each rule
// lives in one place: strict flag parsing, checks of every input and output path before any
// work starts, an exclusive lock for a run that saves to a file, and a main() wrapper that
// turns every exception into one message and an exit status.
//
// Contract (the same for every program):
//   exit 0  success;
//   exit 1  a bad file or a runtime failure: the message names the file (or the operation)
//           and what is wrong;
//   exit 2  a usage error (unknown flag, missing or bad flag value, wrong arguments): one line
//           with the reason and a pointer to --help.
// Numbers on the command line are decimal only: integers in a stated range ("0x10", "1e3",
// "12abc" and out-of-range values are refused, never wrapped or clamped), reals finite and in
// a stated range ("inf", "nan", hex floats refused). Untrusted text is echoed at most ~100
// characters long.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "nn/functional.h"

namespace glassbox::cli {

// A mistake in the command line itself: main exits 2 and points at --help.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& what) : Error(what) {}
};

// `s` quoted, cut to `max` characters with "..." when longer (never echo untrusted text whole).
std::string quoted(const std::string& s, size_t max = 100);

// A decimal integer in [min, max]: an optional '-' and digits only. UsageError naming `flag`
// and the range otherwise.
int64_t parse_int(const std::string& flag, const std::string& text, int64_t min, int64_t max);
// A finite decimal real in [min, max] (or (min, max] with min_exclusive): digits, one '.',
// an optional exponent ("1e-3"); no "inf", "nan", hex. UsageError naming `flag` otherwise.
double parse_real(const std::string& flag, const std::string& text, double min, double max,
                  bool min_exclusive = false);
// The most threads --threads accepts: 4x the cores (more only slows a run down: 10,000
// threads took 97 s for what 2 take in 2 s).
int max_threads();

// The flag table of one program: every flag it knows, whether it takes a value, and whether
// it may be repeated. Adding a flag is one line in the program's table.
struct FlagSpec {
  const char* name;  // without the leading "--"
  bool takes_value = true;
  bool repeatable = false;
};

// argv parsed against a table: "--name value", "--name=value", "--switch"; anything else not
// starting with '-' (or everything after "--") is positional. Unknown flags, missing values
// and a repeated non-repeatable flag are UsageErrors. "--help"/"-h" stops parsing and sets
// help().
class Args {
 public:
  Args(int argc, char** argv, const std::vector<FlagSpec>& table);

  bool help() const { return help_; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  // The flag's (last) value, or `fallback` when absent.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // Every value of a repeatable flag, in order.
  std::vector<std::string> all(const std::string& name) const;
  // parse_int / parse_real on the flag's value, or `fallback` when absent.
  int64_t get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
  double get_real(const std::string& name, double fallback, double min, double max,
                  bool min_exclusive = false) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// --device and --conv-algo values: UsageErrors that name the flag (and say, for a CUDA device,
// why it is not usable here).
Device device_flag(const std::string& flag, const std::string& value);
F::ConvAlgo conv_algo_flag(const std::string& flag, const std::string& value);

// An input file: it exists, is a regular file (a folder, a FIFO -- which would block the
// read --, or a device is refused without opening it), is readable and not empty. `what`
// names it in the message ("--resume", "image"). Throws Error.
void check_input_file(const std::string& what, const std::string& path);
// An output file, before any work: its folder exists and is a folder we can create files in
// (probed by creating and removing a file, so root on a read-only file system is caught too);
// the path is not a folder; an existing target is a regular file we can open for writing
// (it is not truncated). Throws Error naming `what` and the path the user gave.
void check_output_file(const std::string& what, const std::string& path);
// Output paths given to different flags must differ (two outputs into one file would
// overwrite each other). Each entry: {what, path}; empty paths are skipped.
void check_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& outputs);

// An exclusive lock, held for the object's life, on "<target>.lock" (flock: the kernel drops
// it when the process dies, even by SIGKILL, so a crashed run never blocks the next). The
// lock file holds the owner's pid; a second run fails at once with
//   "another <program> run (pid N) is saving to <target>"
// rather than waiting. The file is removed when the lock is released.
class RunLock {
 public:
  RunLock(const std::string& target, const std::string& program);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  const std::string& lock_path() const { return lock_path_; }

 private:
  std::string lock_path_;
  int fd_ = -1;
};

// What the program is doing now ("loading the data set", "training"): the out-of-memory
// message says it ("out of memory while training").
void doing(const std::string& activity);

// main(): runs `body` and returns its status; every exception becomes one message on stderr
// prefixed "<program>: " and status 1 (UsageError: 2, with a pointer to --help). Nothing
// escapes as "terminate called after throwing".
int run_main(const char* program, const std::function<int()>& body);

}  // namespace glassbox::cli
