// The notebook's metrics log: every few steps, (elapsed seconds, step, training loss, accuracy
// on one test batch), as CSV with the header "seconds,step,loss,accuracy". The plot reads it back.
//
// Every write is checked (a full disk used to leave a 0-byte file while the run carried on):
// each row goes to the kernel with write(2) at once, and a failed or short write throws an
// Error naming the file and the reason. The file is then cut back to its last whole row, so
// it still reads back (and a resumed run can append to it); a file this writer created that
// holds no row yet is removed, since it holds nothing useful.
#pragma once

#include <sys/types.h>

#include <cstdint>
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
  // Refuses a path that is not a regular file (a FIFO would block, a folder cannot be written).
  explicit MetricsWriter(const std::string& path, bool append = false);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const MetricsRow& row);  // one line, written through (a crash keeps the log)
  void close();                       // checked; the destructor closes unchecked

 private:
  void write_all(const std::string& text);  // throws, after undoing the partial write
  std::string path_;
  int fd_ = -1;
  bool created_ = false;  // this writer made the file (so it may remove it if useless)
  int64_t rows_ = 0;      // rows written by this writer
  off_t good_size_ = 0;   // bytes of the file that are whole lines
};

// Throws glassbox::Error naming the file and line for a missing file, a wrong header or a
// malformed row.
std::vector<MetricsRow> read_metrics(const std::string& path);

}  // namespace glassbox::mnist
