#include "metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <filesystem>
#include <string_view>

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
  std::error_code ec;
  append = append && std::filesystem::file_size(path, ec) > 0 && !ec;
  if (append) read_metrics(path);  // only continue a file that is a metrics log
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  GB_CHECK(out_.is_open(), "cannot open metrics file '", path,
           "' for writing: ", std::strerror(errno));
  if (!append) out_ << kHeader << '\n' << std::flush;
  GB_CHECK(out_.good(), "cannot write metrics file '", path, "'");
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
  out_ << buf << std::flush;
  GB_CHECK(out_.good(), "cannot write metrics file '", path_, "'");
}

std::vector<MetricsRow> read_metrics(const std::string& path) {
  // A directory opens as an ifstream on Linux and then reads as nothing; say what it is.
  std::error_code ec;
  GB_CHECK(!std::filesystem::is_directory(path, ec), "metrics file '", path, "' is a directory");
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
      GB_CHECK(line == kHeader, where(1), "expected the header '", kHeader, "', got '", line, "'");
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
             ": '", line, "'");

    MetricsRow r;
    static const char* names[] = {"seconds", "step", "loss", "accuracy"};
    bool ok[4] = {parse_field(fields[0], r.seconds), parse_field(fields[1], r.step),
                  parse_field(fields[2], r.loss), parse_field(fields[3], r.accuracy)};
    for (int i = 0; i < 4; ++i)
      GB_CHECK(ok[i], where(line_no), names[i], " is not ", i == 1 ? "an integer" : "a number",
               ": '", fields[size_t(i)], "'");
    std::string problem = row_problem(r);
    GB_CHECK(problem.empty(), where(line_no), problem);
    rows.push_back(r);
  }
  GB_CHECK(!in.bad(), "error reading metrics file '", path, "'");
  GB_CHECK(line_no > 0, path, ": empty file, expected the header '", kHeader, "'");
  return rows;
}

}  // namespace glassbox::mnist
