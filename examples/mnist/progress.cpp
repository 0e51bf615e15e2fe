#include "progress.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <unistd.h>

#include "core/error.h"

namespace glassbox::mnist {

namespace {

constexpr int kBarCells = 24;
// A terminal redraw costs a write syscall and some formatting; ~10 a second looks live without
// slowing a loop that runs thousands of small steps a second.
constexpr std::chrono::milliseconds kRedrawInterval{100};

// 12345 -> "12,345": the bar is read at a glance, the plain lines are meant for grep and awk.
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "?";
  // Round first, so 59.7 s reads "1:00" rather than "60s".
  int64_t s = seconds <= 0 ? 0 : static_cast<int64_t>(std::llround(seconds));
  char buf[64];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

Progress::Progress(int64_t epochs, int64_t steps_per_epoch, std::ostream& out, bool interactive,
                   int64_t plain_every)
    : epochs_(epochs),
      steps_per_epoch_(steps_per_epoch),
      plain_every_(plain_every),
      out_(out),
      interactive_(interactive) {
  GB_CHECK(epochs > 0, "Progress: epochs must be positive, got ", epochs);
  GB_CHECK(steps_per_epoch > 0, "Progress: steps_per_epoch must be positive, got ",
           steps_per_epoch);
  GB_CHECK(plain_every > 0, "Progress: plain_every must be positive, got ", plain_every);
}

Progress::~Progress() {
  // Leave the cursor on a fresh line so whatever the program prints next doesn't overwrite the
  // final bar. A destructor must not throw, and a failing stream is not worth dying for.
  try {
    if (bar_drawn_) out_ << '\n' << std::flush;
  } catch (...) {
  }
}

void Progress::update(int64_t epoch, int64_t step, double loss, int64_t images_per_step,
                      double elapsed_seconds) {
  GB_CHECK(epoch >= 1 && epoch <= epochs_, "Progress::update: epoch ", epoch, " is not in [1, ",
           epochs_, "]");
  GB_CHECK(step >= 1 && step <= steps_per_epoch_, "Progress::update: step ", step,
           " is not in [1, ", steps_per_epoch_, "]");
  const bool last_of_epoch = step == steps_per_epoch_;

  auto now = std::chrono::steady_clock::now();
  if (interactive_) {
    // The last step of an epoch always draws, so the bar left on screen shows the epoch done.
    if (!force_draw_ && !last_of_epoch && now - last_draw_ < kRedrawInterval) return;
  } else if (step % plain_every_ != 0 && !last_of_epoch) {
    return;
  }

  // Rate and ETA cover the whole run, not the epoch: a steady number that doesn't jump at
  // epoch boundaries.
  const int64_t done = (epoch - 1) * steps_per_epoch_ + step;
  const int64_t total = epochs_ * steps_per_epoch_;
  const bool have_time = elapsed_seconds > 0 && std::isfinite(elapsed_seconds);
  const double rate = have_time ? double(done * images_per_step) / elapsed_seconds : 0;
  const std::string eta =
      have_time ? format_duration(double(total - done) * elapsed_seconds / double(done)) : "?";
  const std::string rate_text = have_time ? std::to_string(std::llround(rate)) : "?";

  std::string line = "epoch " + std::to_string(epoch) + "/" + std::to_string(epochs_);
  if (interactive_) {
    const int64_t filled = step * kBarCells / steps_per_epoch_;
    line += " [" + std::string(size_t(filled), '#') + std::string(size_t(kBarCells - filled), '.') +
            "] " + std::to_string(step) + "/" + std::to_string(steps_per_epoch_) + " loss " +
            fixed(loss, 4) + " " + (have_time ? with_commas(std::llround(rate)) : "?") +
            " img/s ETA " + eta;
    // "\r" returns to column 0; "\x1b[K" after the text erases what a longer previous line
    // left behind (writing it after, not before, avoids a visible flicker of an empty line).
    out_ << '\r' << line << "\x1b[K" << std::flush;
    bar_drawn_ = true;
    force_draw_ = false;
    last_draw_ = now;
  } else {
    line += " step " + std::to_string(step) + "/" + std::to_string(steps_per_epoch_) + " loss " +
            fixed(loss, 4) + " " + rate_text + " img/s ETA " + eta;
    out_ << line << '\n' << std::flush;
  }
}

void Progress::clear_bar() {
  if (!bar_drawn_) return;
  out_ << "\r\x1b[K";
  bar_drawn_ = false;
}

void Progress::log(const std::string& line) {
  clear_bar();
  out_ << line << '\n' << std::flush;
  // The bar is gone from the screen; bring it back at the very next update, not up to 100 ms
  // later, so the screen never sits without one mid-run.
  force_draw_ = true;
}

bool Progress::is_terminal(int fd) {
  // TERM=dumb (Emacs shells, some CI runners) is a tty that does not understand "\x1b[K".
  const char* term = std::getenv("TERM");
  return ::isatty(fd) == 1 && term != nullptr && *term != '\0' && std::strcmp(term, "dumb") != 0;
}

}  // namespace glassbox::mnist
