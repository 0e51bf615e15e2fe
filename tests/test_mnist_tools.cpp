// The MNIST example's helpers: the progress bar and plain progress lines, the metrics CSV
// (round trip, every kind of bad file, and a full disk -- simulated without root by a file
// size limit in a forked child), and the gnuplot plot (when gnuplot is installed).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/error.h"
#include "metrics.h"
#include "plot.h"
#include "progress.h"

using namespace glassbox;
using namespace glassbox::mnist;
using doctest::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case, removed afterwards even when a check fails.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "glassbox_mnist_tools_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
    return file(name);
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// doctest::Contains takes a doctest::String, which has no constructor from std::string.
Contains has(const std::string& text) { return Contains(text.c_str()); }

bool gnuplot_installed() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  return false;
}

// Runs `body` in a forked child whose files may grow to `limit` bytes at most (SIGXFSZ
// ignored, so a write past it fails with EFBIG, as on a full disk, and needs no root).
// Returns the Error the body threw, or "ok".
template <class F>
std::string with_file_size_limit(rlim_t limit, F body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {limit, limit};
    std::string message = "ok";
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) message = "setrlimit failed";
    try {
      body();
    } catch (const Error& e) {
      message = e.what();
    }
    (void)!::write(fds[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, size_t(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  return message;
}

}  // namespace

TEST_SUITE("mnist_tools") {
  TEST_CASE("metrics: a full disk stops the writer naming the file, and leaves no torn file") {
    ScratchDir dir;
    const std::string path = dir.file("run.csv");
    // The header (27 bytes) does not fit: an Error, and the useless file is gone.
    std::string message = with_file_size_limit(10, [&] { MetricsWriter writer(path); });
    CHECK(message.find("cannot write metrics file '" + path + "'") != std::string::npos);
    CHECK(message.find("File too large") != std::string::npos);
    CHECK_FALSE(fs::exists(path));
    // The header and one row (24 bytes) fit, the second row does not: the Error names the
    // file, which is cut back to its whole rows and still reads back.
    message = with_file_size_limit(60, [&] {
      MetricsWriter writer(path);
      writer.write({1, 10, 2.30259, 0.1});
      writer.write({2, 20, 1.5, 0.5});
    });
    CHECK(message.find("cannot write metrics file '" + path + "'") != std::string::npos);
    REQUIRE(fs::exists(path));
    const std::vector<MetricsRow> rows = read_metrics(path);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].step == 10);
    // Appending to an existing log (a resumed run) that then fails keeps the old rows.
    message = with_file_size_limit(fs::file_size(path) + 5, [&] {
      MetricsWriter writer(path, /*append=*/true);
      writer.write({3, 30, 1.0, 0.7});
    });
    CHECK(message.find("cannot write metrics file") != std::string::npos);
    CHECK(read_metrics(path).size() == 1);
    // Without a limit the same rows go through.
    CHECK(with_file_size_limit(RLIM_INFINITY, [&] {
            MetricsWriter writer(path, true);
            writer.write({3, 30, 1.0, 0.7});
            writer.close();
          }) == "ok");
    CHECK(read_metrics(path).size() == 2);
  }

  TEST_CASE("metrics: a FIFO or a folder is refused, not waited on") {
    ScratchDir dir;
    const std::string fifo = dir.file("fifo.csv");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THROWS_WITH_AS(MetricsWriter{fifo}, has("not a regular file"), Error);
    CHECK_THROWS_WITH_AS(read_metrics(fifo), has("not a regular file"), Error);
    CHECK_THROWS_WITH_AS(MetricsWriter{dir.path.string()}, has("not a regular file"), Error);
    // A long bad line is not echoed whole.
    const std::string long_line = dir.write("long.csv", std::string(10000, 'x') + "\n");
    try {
      read_metrics(long_line);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).size() < 500);
    }
  }

  TEST_CASE("format_duration: seconds, minutes, hours") {
    CHECK(format_duration(0) == "0s");
    CHECK(format_duration(41) == "41s");
    CHECK(format_duration(41.4) == "41s");
    CHECK(format_duration(59.6) == "1:00");  // rounded before choosing the form
    CHECK(format_duration(65) == "1:05");
    CHECK(format_duration(600) == "10:00");
    CHECK(format_duration(3599) == "59:59");
    CHECK(format_duration(3723) == "1:02:03");
    CHECK(format_duration(100 * 3600 + 1) == "100:00:01");
    CHECK(format_duration(-5) == "0s");
    CHECK(format_duration(std::numeric_limits<double>::infinity()) == "?");
  }

  TEST_CASE("plain progress: a line every plain_every steps and at the end of each epoch") {
    std::ostringstream out;
    {
      Progress p(2, 25, out, /*interactive=*/false, /*plain_every=*/10);
      // 100 images a step, 0.2 s a step: 500 img/s; the ETA is the remaining steps of the
      // whole run at that pace.
      for (int64_t e = 1; e <= 2; ++e)
        for (int64_t s = 1; s <= 25; ++s) {
          int64_t done = (e - 1) * 25 + s;
          p.update(e, s, 1.0 / double(done), 100, 0.2 * double(done));
        }
    }
    std::vector<std::string> lines = lines_of(out.str());
    REQUIRE(lines.size() == 6);
    CHECK(lines[0] == "epoch 1/2 step 10/25 loss 0.1000 500 img/s ETA 8s");
    CHECK(lines[1] == "epoch 1/2 step 20/25 loss 0.0500 500 img/s ETA 6s");
    CHECK(lines[2] == "epoch 1/2 step 25/25 loss 0.0400 500 img/s ETA 5s");
    CHECK(lines[3] == "epoch 2/2 step 10/25 loss 0.0286 500 img/s ETA 3s");
    CHECK(lines[4] == "epoch 2/2 step 20/25 loss 0.0222 500 img/s ETA 1s");
    CHECK(lines[5] == "epoch 2/2 step 25/25 loss 0.0200 500 img/s ETA 0s");
    CHECK(out.str().find('\r') == std::string::npos);
    CHECK(out.str().find('\x1b') == std::string::npos);
  }

  TEST_CASE("plain progress: big rates without separators, log() is just a line") {
    std::ostringstream out;
    Progress p(5, 60, out, false, 30);
    p.update(2, 30, 0.41234, 64, 90 * 64 / 12345.0);  // 90 steps of 64 images
    p.log("epoch 2 done");
    p.update(2, 31, 0.4, 64, 1.0);  // not a multiple of 30, not the last step: silent
    CHECK(out.str() == "epoch 2/5 step 30/60 loss 0.4123 12345 img/s ETA 1s\nepoch 2 done\n");
  }

  TEST_CASE("interactive progress: a bar redrawn in place, ended by a newline") {
    std::ostringstream out;
    {
      Progress p(5, 60, out, /*interactive=*/true);
      p.update(1, 1, 2.3, 64, 0.01);  // the first update always draws
      std::string first = out.str();
      CHECK(first.rfind('\r', 0) == 0);
      CHECK(first.find("epoch 1/5 [........................] 1/60 loss 2.3000") !=
            std::string::npos);
      CHECK(first.find("\x1b[K") != std::string::npos);
      CHECK(first.find('\n') == std::string::npos);

      // A fast loop: most of these fall inside the 100 ms throttle and print nothing, but the
      // last step of the epoch always draws.
      for (int64_t s = 2; s <= 60; ++s) p.update(2, s, 0.41234, 64, 120 * 64 / 12345.0);
      std::string all = out.str();
      size_t draws = 0;
      for (char c : all) draws += c == '\r';
      CHECK(draws >= 2);
      CHECK(draws < 30);
      CHECK(all.find("epoch 2/5 [########################] 60/60 loss 0.4123 "
                     "12,345 img/s ETA 1s\x1b[K") != std::string::npos);
      CHECK(all.find('\n') == std::string::npos);
    }
    CHECK(out.str().back() == '\n');  // the destructor ended the bar

    // The bar is 24 cells filled in proportion to the step within the epoch.
    std::ostringstream half;
    {
      Progress p(1, 48, half, true);
      p.update(1, 24, 1.0, 1, 1.0);
    }
    CHECK(half.str().find("[############............] 24/48") != std::string::npos);
  }

  TEST_CASE("interactive progress: log() clears the bar and the next update redraws it") {
    std::ostringstream out;
    Progress p(1, 100, out, true);
    p.update(1, 1, 1.0, 10, 0.5);
    size_t bar_end = out.str().size();
    p.log("checkpoint saved");
    std::string after_log = out.str().substr(bar_end);
    CHECK(after_log == "\r\x1b[Kcheckpoint saved\n");
    p.update(1, 2, 0.9, 10, 0.6);  // within 100 ms of the last draw, yet drawn
    CHECK(out.str().substr(bar_end + after_log.size()).rfind("\repoch 1/1 [", 0) == 0);

    // With no bar on screen, log() just prints.
    std::ostringstream quiet;
    Progress q(1, 10, quiet, true);
    q.log("hello");
    CHECK(quiet.str() == "hello\n");
  }

  TEST_CASE("progress rejects nonsense") {
    std::ostringstream out;
    CHECK_THROWS_WITH_AS(Progress(0, 10, out, false), Contains("epochs must be positive"), Error);
    CHECK_THROWS_WITH_AS(Progress(1, 10, out, false, 0), Contains("plain_every"), Error);
    Progress p(2, 10, out, false);
    CHECK_THROWS_WITH_AS(p.update(3, 1, 0, 1, 1), Contains("epoch 3 is not in [1, 2]"), Error);
    CHECK_THROWS_WITH_AS(p.update(1, 11, 0, 1, 1), Contains("step 11 is not in [1, 10]"), Error);
  }

  TEST_CASE("is_terminal is false for a file and for TERM=dumb") {
    ScratchDir dir;
    std::string path = dir.write("not_a_tty.txt", "");
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    CHECK_FALSE(Progress::is_terminal(::fileno(f)));
    std::fclose(f);
    CHECK_FALSE(Progress::is_terminal(-1));
  }

  TEST_CASE("metrics: written rows read back within their printed precision") {
    ScratchDir dir;
    std::string path = dir.file("run.csv");
    std::vector<MetricsRow> rows = {{0.5, 1, 2.302585093, 0.09375},
                                    {12.3456, 10, 0.412345678, 0.912},
                                    {125.0001, 938, 1.23456789e-4, 1.0}};
    {
      MetricsWriter w(path);
      for (const MetricsRow& r : rows) w.write(r);
      // Flushed per row: the file is complete before the writer goes away.
      CHECK(read_metrics(path).size() == rows.size());
    }
    std::ifstream in(path);
    std::string header, second;
    std::getline(in, header);
    std::getline(in, second);
    std::getline(in, second);
    CHECK(header == "seconds,step,loss,accuracy");
    CHECK(second == "12.346,10,0.412346,0.9120");

    std::vector<MetricsRow> back = read_metrics(path);
    REQUIRE(back.size() == rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(i);
      CHECK(std::abs(back[i].seconds - rows[i].seconds) <= 5e-4);  // 3 decimals
      CHECK(back[i].step == rows[i].step);
      CHECK(std::abs(back[i].loss - rows[i].loss) <= 5e-6 * std::abs(rows[i].loss));  // 6 digits
      CHECK(std::abs(back[i].accuracy - rows[i].accuracy) <= 5e-5);                   // 4 decimals
    }
  }

  TEST_CASE("metrics: the writer refuses rows the reader would reject, and unopenable paths") {
    ScratchDir dir;
    CHECK_THROWS_WITH_AS(MetricsWriter(dir.file("no/such/dir/run.csv")),
                         Contains("no/such/dir/run.csv"), Error);
    MetricsWriter w(dir.file("run.csv"));
    CHECK_THROWS_WITH_AS(w.write({1.0, 1, std::nan(""), 0.5}), Contains("loss must be finite"),
                         Error);
    CHECK_THROWS_WITH_AS(w.write({1.0, 0, 0.5, 0.5}), Contains("step must be positive"), Error);
    CHECK_THROWS_WITH_AS(w.write({1.0, 1, 0.5, 1.5}), Contains("accuracy must be a fraction"),
                         Error);
    CHECK(read_metrics(dir.file("run.csv")).empty());  // nothing bad got in
  }

  TEST_CASE("metrics: header only, trailing blank lines and CRLF are fine") {
    ScratchDir dir;
    CHECK(read_metrics(dir.write("empty.csv", "seconds,step,loss,accuracy\n")).empty());
    CHECK(read_metrics(dir.write("bare.csv", "seconds,step,loss,accuracy")).empty());
    std::vector<MetricsRow> rows =
        read_metrics(dir.write("crlf.csv", "seconds,step,loss,accuracy\r\n1.5,3,0.25,1\r\n\n\n"));
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].seconds == 1.5);
    CHECK(rows[0].step == 3);
    CHECK(rows[0].loss == 0.25);
    CHECK(rows[0].accuracy == 1.0);
  }

  TEST_CASE("metrics: bad files are reported with the file name and line") {
    ScratchDir dir;
    const std::string header = "seconds,step,loss,accuracy\n";
    const std::string good = "1.000,1,2.3,0.1\n";
    CHECK_THROWS_WITH_AS(read_metrics(dir.file("missing.csv")),
                         has("cannot open metrics file '" + dir.file("missing.csv") + "'"), Error);
    CHECK_THROWS_WITH_AS(read_metrics(dir.path.string()), Contains("is a directory"), Error);
    std::string p = dir.write("nothing.csv", "");
    CHECK_THROWS_WITH_AS(read_metrics(p), has(p + ": empty file"), Error);
    p = dir.write("header.csv", "time,step,loss,accuracy\n" + good);
    CHECK_THROWS_WITH_AS(read_metrics(p), has(p + ":1: expected the header"), Error);

    struct Bad {
      const char* row;
      const char* message;
    };
    for (Bad bad :
         {Bad{"1.0,2,abc,0.5", "loss is not a number: 'abc'"},
          Bad{"1.0,2,0.5", "expected 4 comma-separated fields"}, Bad{"1.0,2,0.5,0.5,7", "got 5"},
          Bad{"1.0,2,0.5,", "accuracy is not a number: ''"},
          Bad{"1.0,2.5,0.5,0.5", "step is not an integer: '2.5'"},
          Bad{"1.0,2,0.5,1.5", "accuracy must be a fraction in [0, 1], got 1.5"},
          Bad{"1.0,2,0.5,-0.1", "accuracy must be a fraction"},
          Bad{"1.0,0,0.5,0.5", "step must be positive, got 0"},
          Bad{"1.0,2,nan,0.5", "loss must be finite"},
          Bad{"inf,2,0.5,0.5", "seconds must be a finite number"},
          Bad{"1.0x,2,0.5,0.5", "seconds is not a number: '1.0x'"},
          Bad{" 1.0,2,0.5,0.5", "seconds is not a number"}}) {
      CAPTURE(bad.row);
      // The bad row is on line 3, after the header and a good row.
      p = dir.write("bad.csv", header + good + bad.row + "\n" + good);
      CHECK_THROWS_WITH_AS(read_metrics(p), has(p + ":3: "), Error);
      CHECK_THROWS_WITH_AS(read_metrics(p), Contains(bad.message), Error);
    }
    p = dir.write("gap.csv", header + good + "\n" + good);
    CHECK_THROWS_WITH_AS(read_metrics(p), has(p + ":3: blank line before more data"), Error);
  }

  TEST_CASE("plot_metrics: two runs side by side in one PNG") {
    ScratchDir dir;
    auto run = [&](const std::string& name, double speed) {
      MetricsWriter w(dir.file(name));
      for (int64_t step = 10; step <= 300; step += 10)
        w.write({double(step) / speed, step, 2.3 / (1 + double(step) / 30),
                 1 - 0.9 / (1 + double(step) / 20)});
      return dir.file(name);
    };
    std::vector<std::string> files = {run("shift_gemm.csv", 50), run("im2col.csv", 30)};
    std::string png = dir.file("both.png");

    if (!gnuplot_installed()) {
      MESSAGE("skipped: gnuplot not installed");
      CHECK_THROWS_WITH_AS(plot_metrics(files, png), Contains("gnuplot-nox"), Error);
      return;
    }
    plot_metrics(files, png, "two algorithms");
    REQUIRE(fs::exists(png));
    CHECK(fs::file_size(png) > 1000);
    std::ifstream in(png, std::ios::binary);
    char head[8] = {};
    in.read(head, 8);
    CHECK(std::string(head, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    // Only the PNG is left behind: no partial file next to it.
    size_t entries = 0;
    for (const auto& e : fs::directory_iterator(dir.path))
      entries += e.path().extension() != ".csv";
    CHECK(entries == 1);

    // A quote in a file name must not break the script.
    std::string quoted = dir.file("it's.csv");
    fs::copy_file(files[0], quoted);
    plot_metrics({quoted}, png);
    CHECK(fs::file_size(png) > 1000);
  }

  TEST_CASE("plot_metrics: bad input fails before gnuplot runs") {
    ScratchDir dir;
    std::string png = dir.file("out.png");
    std::string good = dir.write("good.csv", "seconds,step,loss,accuracy\n1,1,2.3,0.1\n");
    std::string bad = dir.write("bad.csv", "seconds,step,loss,accuracy\n1,1,2.3,7\n");
    std::string empty = dir.write("empty.csv", "seconds,step,loss,accuracy\n");

    // PATH without gnuplot: reaching the gnuplot lookup would say "gnuplot-nox", so getting
    // the file's own message proves the files were checked first.
    const char* old = std::getenv("PATH");
    std::string saved = old != nullptr ? old : "";
    ::setenv("PATH", dir.path.c_str(), 1);
    CHECK_THROWS_WITH_AS(plot_metrics({good, bad}, png), has(bad + ":2: accuracy"), Error);
    CHECK_THROWS_WITH_AS(plot_metrics({good, empty}, png), Contains("no data rows"), Error);
    CHECK_THROWS_WITH_AS(plot_metrics({}, png), Contains("no metrics files"), Error);
    CHECK_THROWS_WITH_AS(plot_metrics({good}, png),
                         Contains("gnuplot not found on PATH; install Debian's gnuplot-nox"),
                         Error);
    if (old != nullptr)
      ::setenv("PATH", saved.c_str(), 1);
    else
      ::unsetenv("PATH");
    CHECK_FALSE(fs::exists(png));
  }

  TEST_CASE("plot_metrics: a gnuplot failure comes back with gnuplot's message") {
    if (!gnuplot_installed()) {
      MESSAGE("skipped: gnuplot not installed");
      return;
    }
    ScratchDir dir;
    std::string good = dir.write("good.csv", "seconds,step,loss,accuracy\n1,1,2.3,0.1\n");
    // gnuplot cannot create a file in a directory that does not exist.
    std::string png = dir.file("no_such_dir/out.png");
    CHECK_THROWS_WITH_AS(plot_metrics({good}, png), Contains("plot_metrics: gnuplot exited"),
                         Error);
    CHECK_THROWS_WITH_AS(plot_metrics({good}, png), Contains("no_such_dir"), Error);
  }
}
