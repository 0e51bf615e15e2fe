// The metrics plot of plot.h: the files are checked, a gnuplot script is written into a private
// temporary folder, gnuplot runs without a shell and its PNG is renamed into place.
#include "plot.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "metrics.h"

extern char** environ;

namespace glassbox::mnist {

namespace fs = std::filesystem;

namespace {

// Our own PATH search (rather than leaving it to posix_spawnp) so a missing gnuplot gets a
// message that says what to install, instead of a bare ENOENT after the fact.
std::string find_on_path(const std::string& name) {
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(begin, end - begin);
    begin = end + 1;
    // An empty entry means the current directory; running a program that happens to sit in
    // whatever directory we were started from is a classic trap, so skip it.
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

// A gnuplot single-quoted string: no backslash escapes, and '' stands for one quote. A newline
// would end the command, so control characters are refused outright.
std::string gp_quote(const std::string& s, const char* what) {
  std::string out = "'";
  for (char c : s) {
    GB_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, "plot_metrics: the ", what, " '",
             s, "' contains a control character, which gnuplot scripts cannot quote");
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// gnuplot gives file names starting with '<' (read a shell command's output), '|' (set output
// to a pipe), '-', '+' and '++' special meanings. Absolute paths always start with '/'.
std::string gp_path(const std::string& p, const char* what) {
  return gp_quote(fs::absolute(p).lexically_normal().string(), what);
}

// The script and gnuplot's stderr live in a fresh directory of their own, removed on every
// way out, so concurrent plots never collide and nothing is left behind.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "glassbox_plot_XXXXXX").string();
    GB_CHECK(::mkdtemp(tmpl.data()) != nullptr,
             "plot_metrics: cannot create a temporary directory '", tmpl,
             "': ", std::strerror(errno));
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const fs::path& p, size_t max_chars) {
  std::ifstream in(p, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > max_chars) text = "..." + text.substr(text.size() - max_chars);
  return text;
}

bool is_png(const fs::path& p) {
  static const char kSignature[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  std::ifstream in(p, std::ios::binary);
  char head[8] = {};
  return in.read(head, 8) && std::memcmp(head, kSignature, 8) == 0;
}

// Runs gnuplot on the script without a shell (no quoting of paths to get wrong), stdin from
// /dev/null, stdout and stderr into `log`. Returns the wait status.
int run_gnuplot(const std::string& exe, const std::string& script, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  // -d: skip ~/.gnuplot and the system gnuplotrc, whose settings could break our script.
  std::string arg0 = "gnuplot", arg1 = "-d", arg2 = script;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  pid_t pid = 0;
  int err = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  GB_CHECK(err == 0, "plot_metrics: cannot run ", exe, ": ", std::strerror(err));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    GB_CHECK(errno == EINTR, "plot_metrics: waiting for gnuplot failed: ", std::strerror(errno));
  }
  return status;
}

}  // namespace

void check_gnuplot() {
  GB_CHECK(!find_on_path("gnuplot").empty(),
           "plot_metrics: gnuplot not found on PATH; install Debian's gnuplot-nox "
           "(apt-get install gnuplot-nox)");
}

void plot_metrics(const std::vector<std::string>& metrics_files, const std::string& png_path,
                  const std::string& title) {
  GB_CHECK(!metrics_files.empty(), "plot_metrics: no metrics files given");
  GB_CHECK(!png_path.empty(), "plot_metrics: empty output path");
  // Every file is checked before gnuplot runs: its own messages for bad data are vague ("all
  // points y value undefined") and don't name the file or line.
  std::vector<size_t> row_counts;
  for (const std::string& f : metrics_files) {
    size_t n = read_metrics(f).size();
    GB_CHECK(n > 0, "plot_metrics: ", f, " has no data rows to plot");
    row_counts.push_back(n);
  }
  check_gnuplot();
  const std::string gnuplot = find_on_path("gnuplot");

  TempDir tmp;
  // gnuplot writes next to the target and we rename on success: a failed run leaves an older
  // PNG untouched rather than half-written, and the rename is atomic on one filesystem.
  std::string partial = png_path + ".partial-" + std::to_string(::getpid());
  fs::path script = tmp.path() / "plot.gp";
  fs::path log = tmp.path() / "gnuplot.log";

  // One plot command per panel; a file with a handful of rows also gets points, since a line
  // through one or two samples is hard (or, for one, impossible) to see.
  auto plot_command = [&](const char* using_columns) {
    std::string cmd = "plot ";
    for (size_t i = 0; i < metrics_files.size(); ++i) {
      const std::string& f = metrics_files[i];
      if (i > 0) cmd += ", \\\n     ";
      cmd += gp_path(f, "metrics file") + " skip 1 using " + using_columns + " with " +
             (row_counts[i] < 20 ? "linespoints pt 7 ps 0.6" : "lines") + " lw 2 lc " +
             std::to_string(i + 1) + " title " +
             gp_quote(fs::path(f).stem().string(), "metrics file name");
    }
    return cmd + "\n";
  };

  {
    std::ofstream gp(script);
    GB_CHECK(gp.is_open(), "plot_metrics: cannot write ", script.string());
    // pngcairo (antialiased, part of Debian's gnuplot-nox) when this gnuplot has it, else the
    // libgd png terminal. noenhanced: file stems like shift_gemm must not turn into subscripts.
    gp << "if (strstrt(' '.GPVAL_TERMINALS.' ', ' pngcairo ') > 0) {\n"
          "  set terminal pngcairo size 1200,450 noenhanced font 'sans,10'\n"
          "} else {\n"
          "  set terminal png size 1200,450 noenhanced\n"
          "}\n"
       << "set output " << gp_path(partial, "output path") << "\n"
       << "set datafile separator ','\n"
       << "set grid\n"
       << "set xlabel 'seconds'\n"
       << "set multiplot layout 1,2 title " << gp_quote(title, "title") << "\n"
       << "set title 'test accuracy (one batch) vs time'\n"
       << "set ylabel 'accuracy (%)'\n"
       << "set key bottom right\n";
    gp << plot_command("1:($4*100)");
    gp << "set title 'training loss vs time'\n"
       << "set ylabel 'loss'\n"
       << "set key top right\n";
    gp << plot_command("1:3");
    // Leaving multiplot and closing the output is what makes gnuplot finish the PNG file.
    gp << "unset multiplot\n"
       << "unset output\n";
    GB_CHECK(gp.good(), "plot_metrics: cannot write ", script.string());
  }

  int status = run_gnuplot(gnuplot, script.string(), log.string());
  std::error_code ec;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fs::remove(partial, ec);
    std::string how = WIFEXITED(status) ? str("exited with status ", WEXITSTATUS(status))
                                        : str("was killed by signal ", WTERMSIG(status));
    fail(str("plot_metrics: gnuplot ", how, " while drawing ", png_path, ":\n",
             read_text(log, 4000)));
  }
  if (!is_png(partial)) {
    fs::remove(partial, ec);
    fail(str("plot_metrics: gnuplot succeeded but did not write a PNG to ", png_path,
             "; its output:\n", read_text(log, 4000)));
  }
  fs::rename(partial, png_path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    fail(str("plot_metrics: cannot move the plot into place at ", png_path, ": ", ec.message()));
  }
}

}  // namespace glassbox::mnist
