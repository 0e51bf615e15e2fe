// The notebook's metrics log: every few steps, (elapsed seconds, step, training loss, accuracy
// on one test batch), as CSV with the header "seconds,step,loss,accuracy". The plot reads it back.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace glassbox::mnist {

struct MetricsRow {
  double seconds = 0;
  int64_t step = 0;  // global step, counting from 1 across epochs
  double loss = 0;
  double accuracy = 0;  // fraction in [0, 1]
};

class MetricsWriter {
 public:
  // Starts a new file (truncating), or with append=true continues an existing log (a resumed
  // run; the file must read back as a metrics log). Throws Error naming the path.
  explicit MetricsWriter(const std::string& path, bool append = false);
  void write(const MetricsRow& row);  // one line, flushed (a crash keeps the log)

 private:
  std::string path_;
  std::ofstream out_;
};

// Throws glassbox::Error naming the file and line for a missing file, a wrong header or a
// malformed row.
std::vector<MetricsRow> read_metrics(const std::string& path);

}  // namespace glassbox::mnist
