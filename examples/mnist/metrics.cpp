// The metrics CSV of metrics.h: a writer that checks every write and never leaves a torn line,
// and a strict reader (the same row rules as the writer, errors with file and line).
#include "metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/error.h"

namespace glassbox::mnist {

namespace {

constexpr const char* kHeader = "seconds,step,loss,accuracy";

// What the reader accepts is what the writer may write: both go through this, so a log written
// by a run always reads back (a NaN loss stops the run with a message rather than producing a
// file the plot rejects later).
std::string row_problem(const MetricsRow& r) {
  if (!std::isfinite(r.seconds) || r.seconds < 0)
    return str("seconds must be a finite number >= 0, got ", r.seconds);
  if (r.step <= 0) return str("step must be positive, got ", r.step);
  if (!std::isfinite(r.loss)) return str("loss must be finite, got ", r.loss);
  if (!std::isfinite(r.accuracy) || r.accuracy < 0 || r.accuracy > 1)
    return str("accuracy must be a fraction in [0, 1], got ", r.accuracy);
  return "";
}

// from_chars: locale-independent (a German LC_NUMERIC can't turn "0.5" into 0) and strict --
// the whole field must be the number, so "0.5x" and "" are rejected.
template <class T>
bool parse_field(std::string_view field, T& value) {
  // from_chars rejects a leading '+', which some tools write; accept it.
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  const char* end = field.data() + field.size();
  auto [ptr, ec] = std::from_chars(field.data(), end, value);
  return ec == std::errc() && ptr == end && !field.empty();
}

}  // namespace

MetricsWriter::MetricsWriter(const std::string& path, bool append) : path_(path) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  GB_CHECK(!exists || S_ISREG(st.st_mode), "metrics file '", path,
           "' is not a regular file (a folder, FIFO or device)");
  append = append && exists && st.st_size > 0;
  if (append) read_metrics(path);  // only continue a file that is a metrics log
  created_ = !exists;
  // O_NONBLOCK: should the path turn into a FIFO meanwhile, open fails (ENXIO) instead of
  // waiting for a reader; it changes nothing for a regular file.
  fd_ = ::open(path.c_str(),
               O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK | (append ? O_APPEND : O_TRUNC), 0644);
  GB_CHECK(fd_ >= 0, "cannot open metrics file '", path, "' for writing: ", std::strerror(errno));
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    fail(str("metrics file '", path, "' is not a regular file"));
  }
  good_size_ = st.st_size;
  if (!append) {
    write_all(std::string(kHeader) + "\n");
    return;
  }
  // A log whose last line has no newline would glue our first row onto it.
  char last = '\n';
  if (::pread(fd_, &last, 1, st.st_size - 1) == 1 && last != '\n') write_all("\n");
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsWriter::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  fd_ = -1;
  GB_CHECK(::close(fd) == 0, "cannot write metrics file '", path_,
           "' (closing it failed): ", std::strerror(errno));
}

void MetricsWriter::write_all(const std::string& text) {
  GB_CHECK(fd_ >= 0, "metrics file '", path_, "' is closed");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n > 0) {
      done += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const std::string reason = n < 0 ? std::strerror(errno) : "nothing written";
    // Undo the partial line, so what is left reads back; a file we made that holds no row is
    // not worth keeping.
    if (::ftruncate(fd_, good_size_) != 0) {
      // Keep going: the error below is the one that matters.
    }
    ::close(fd_);
    fd_ = -1;
    const bool removed = created_ && rows_ == 0 && ::unlink(path_.c_str()) == 0;
    fail(str("cannot write metrics file '", path_, "': ", reason, " (is the disk full?); ",
             removed ? "the empty file was removed" : "it keeps the rows written before"));
  }
  good_size_ += off_t(text.size());
}

void MetricsWriter::write(const MetricsRow& row) {
  std::string problem = row_problem(row);
  GB_CHECK(problem.empty(), "metrics file '", path_, "': refusing to write a bad row: ", problem);
  // seconds to the millisecond; loss to 6 significant digits (it spans 2.3 down to 1e-3 and
  // below, so fixed decimals would lose the tail); accuracy to 4 decimals, finer than one test
  // image in a batch of up to 10,000. snprintf in the "C" locale always writes '.'.
  char buf[128];
  std::snprintf(buf, sizeof buf, "%.3f,%lld,%.6g,%.4f\n", row.seconds,
                static_cast<long long>(row.step), row.loss, row.accuracy);
  write_all(buf);
  ++rows_;
}

std::vector<MetricsRow> read_metrics(const std::string& path) {
  // A directory opens as an ifstream on Linux and then reads as nothing, and a FIFO blocks
  // the open until a writer comes: say what it is instead.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    GB_CHECK(!S_ISDIR(st.st_mode), "metrics file '", path, "' is a directory");
    GB_CHECK(S_ISREG(st.st_mode), "metrics file '", path,
             "' is not a regular file (a FIFO or device)");
  }
  std::ifstream in(path);
  GB_CHECK(in.is_open(), "cannot open metrics file '", path, "': ", std::strerror(errno));

  std::vector<MetricsRow> rows;
  std::string line;
  int64_t line_no = 0;
  int64_t blank_line = 0;  // the first blank line seen: fine at the end, an error before data
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // a file saved on Windows
    auto where = [&](int64_t n) { return str(path, ":", n, ": "); };
    if (line_no == 1) {
      GB_CHECK(line == kHeader, where(1), "expected the header '", kHeader, "', got ",
               cli::quoted(line));
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (blank_line == 0) blank_line = line_no;
      continue;
    }
    GB_CHECK(blank_line == 0, where(blank_line), "blank line before more data (line ", line_no,
             ")");

    std::vector<std::string_view> fields;
    std::string_view rest(line);
    for (size_t comma; (comma = rest.find(',')) != std::string_view::npos;) {
      fields.push_back(rest.substr(0, comma));
      rest.remove_prefix(comma + 1);
    }
    fields.push_back(rest);
    GB_CHECK(fields.size() == 4, where(line_no),
             "expected 4 comma-separated fields (seconds,step,loss,accuracy), got ", fields.size(),
             ": ", cli::quoted(line));

    MetricsRow r;
    static const char* names[] = {"seconds", "step", "loss", "accuracy"};
    bool ok[4] = {parse_field(fields[0], r.seconds), parse_field(fields[1], r.step),
                  parse_field(fields[2], r.loss), parse_field(fields[3], r.accuracy)};
    for (int i = 0; i < 4; ++i)
      GB_CHECK(ok[i], where(line_no), names[i], " is not ", i == 1 ? "an integer" : "a number",
               ": ", cli::quoted(std::string(fields[size_t(i)])));
    std::string problem = row_problem(r);
    GB_CHECK(problem.empty(), where(line_no), problem);
    rows.push_back(r);
  }
  GB_CHECK(!in.bad(), "error reading metrics file '", path, "'");
  GB_CHECK(line_no > 0, path, ": empty file, expected the header '", kHeader, "'");
  return rows;
}

}  // namespace glassbox::mnist
