// Training progress for people watching: a live one-line bar on a terminal (epoch, step, loss,
// images/s, ETA), redrawn in place; plain log lines when the output is not a terminal (CI logs,
// files), one every `plain_every` steps and at the end of each epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace glassbox::mnist {

class Progress {
 public:
  // out: where to draw (usually std::cerr). interactive: draw a bar in place (true) or write
  // plain lines (false); Progress::is_terminal(stderr) tells which fits.
  Progress(int64_t epochs, int64_t steps_per_epoch, std::ostream& out, bool interactive,
           int64_t plain_every = 10);
  ~Progress();  // ends a bar that is still drawn with a newline

  // After each step. epoch and step count from 1; step is within the epoch. elapsed_seconds
  // since training began (for images/s and the ETA of the whole run).
  void update(int64_t epoch, int64_t step, double loss, int64_t images_per_step,
              double elapsed_seconds);
  // A message that must stay visible (e.g. an epoch summary): the bar is cleared, the line
  // printed, and the bar redrawn at the next update.
  void log(const std::string& line);

  static bool is_terminal(int fd);  // isatty, and TERM is not "dumb"

 private:
  void clear_bar();
  int64_t epochs_, steps_per_epoch_, plain_every_;
  std::ostream& out_;
  bool interactive_;
  bool bar_drawn_ = false;
  // Redraws are throttled to ~10 a second; force_draw_ makes the next update draw anyway (the
  // first one, and the first after log() cleared the bar).
  std::chrono::steady_clock::time_point last_draw_{};
  bool force_draw_ = true;
};

// "41s" under a minute, "1:05" under an hour, "1:02:03" beyond; rounded to whole seconds.
// Negative durations show as "0s", non-finite ones as "?".
std::string format_duration(double seconds);

}  // namespace glassbox::mnist
