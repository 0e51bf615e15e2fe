// The command-line programs under hostile input: the shared rules of examples/cli (suite
// "cli": strict numbers, flag tables, path checks, the run lock) and the real executables
// (suite "programs": the bad-input table of issue 13). Each table row runs mnist, predict,
// filters or mnist_plot as a child process on a bad input -- missing, empty, a folder, a FIFO
// (which must not hang), random bytes, a truncated valid file, an output into a missing
// folder, a read-only place (/proc: even root cannot create files there) or onto a folder,
// and bad flag values -- and checks the exit status (1 for a file, 2 for a flag), that
// stderr names the file or flag, and that nothing in the scratch folder was created or
// changed. The mnist rows fail before training; rows that need data use a tiny IDX data set
// (--data with --skip-md5), so the whole table runs in seconds.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli.h"
#include "datasets/idx.h"
#include "datasets/mnist.h"
#include "net.h"
#include "nn/checkpoint.h"
#include "nn/serialize.h"
#include "optim/adam.h"
#include "temp_dir.h"
#include "train.h"

using namespace glassbox;
namespace fs = std::filesystem;

namespace {

doctest::Contains has(const std::string& text) { return doctest::Contains(text.c_str()); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (char& c : s) c = char(gen() & 0xff);
  return s;
}

// --- a PNG written by hand (stored deflate blocks), so the fixture needs no image library ---

uint32_t crc32(const std::string& bytes) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(uint32_t(data.size())) + type + data + be32(crc32(type + data));
}

// A w x h grey PNG: a bright square in the middle of a dark frame (a blob MNIST-like enough).
std::string grey_png(int w, int h) {
  std::string raw;
  for (int y = 0; y < h; ++y) {
    raw += '\0';  // filter: none
    for (int x = 0; x < w; ++x)
      raw += (x > w / 4 && x < 3 * w / 4 && y > h / 4 && y < 3 * h / 4) ? char(255) : char(0);
  }
  uint32_t a = 1, b = 0;  // adler32
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  std::string z = "\x78\x01";
  z += '\x01';  // one final stored block (raw is far below 65535 bytes)
  const uint16_t len = uint16_t(raw.size()), nlen = uint16_t(~len);
  z += {char(len & 0xff), char(len >> 8), char(nlen & 0xff), char(nlen >> 8)};
  z += raw + be32((b << 16) | a);
  std::string ihdr = be32(uint32_t(w)) + be32(uint32_t(h)) + std::string("\x08\x00\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", z) +
         png_chunk("IEND", "");
}

// --- the tiny data set and checkpoints ---

// Four IDX files of 20 training and 10 test images (MNIST's names, not its MD5s).
void write_tiny_mnist(const std::string& dir) {
  const auto& files = datasets::mnist_info().files;
  for (int split = 0; split < 2; ++split) {
    const int64_t n = split == 0 ? 20 : 10;
    Tensor images = zeros({n, 28, 28}, dtype(DType::UInt8));
    Tensor labels = zeros({n}, dtype(DType::UInt8));
    uint8_t* px = images.data_ptr<uint8_t>();
    for (int64_t i = 0; i < n * 784; ++i) px[i] = uint8_t((i * 37) % 251);
    for (int64_t i = 0; i < n; ++i) labels.data_ptr<uint8_t>()[i] = uint8_t(i % 10);
    datasets::write_idx((fs::path(dir) / files[size_t(2 * split)].name).string(), images);
    datasets::write_idx((fs::path(dir) / files[size_t(2 * split + 1)].name).string(), labels);
  }
}

// A checkpoint as mnist --save on the tiny data set (batch 10) would write one, with `extra`
// entries replaced (an empty value removes the key): written by glassbox::save_checkpoint,
// so its checksum is valid and only our own validation can catch bad values.
void write_checkpoint(const std::string& path, std::map<std::string, std::string> changes = {},
                      int64_t epoch = 1) {
  manual_seed(3);
  mnist::MnistNet net;
  optim::Adam adam(net->parameters(), optim::AdamOptions(1e-3));
  TrainingState state;
  state.epoch = epoch;
  state.step = 2 * epoch;
  state.rng = default_generator().state();
  state.extra = {{"test_batch_next", "0"},
                 {"batch_size", "10"},
                 {"train_examples", "20"},
                 {"elapsed_seconds", "1.5"}};
  for (const auto& [key, value] : changes) {
    if (value.empty())
      state.extra.erase(key);
    else
      state.extra[key] = value;
  }
  save_checkpoint(path, *net, adam, state);
}

void write_weights(const std::string& path) {
  manual_seed(4);
  mnist::MnistNet net;
  nn::save(*net, path);
}

// --- running a program ---

struct Run {
  int code = -1;  // exit status; -1: killed (hung or crashed)
  bool hung = false;
  std::string out, err;
};

// Runs exe with args in `cwd`, stdin from /dev/null, within `timeout` (a FIFO must not hang).
Run run(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
        double timeout = 60) {
  static std::atomic<int> counter{0};
  const int n = ++counter;
  const std::string out_path = cwd + "/../stdout." + std::to_string(n);
  const std::string err_path = cwd + "/../stderr." + std::to_string(n);
  std::vector<std::string> storage{exe};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::dup2(in, 0), ::dup2(out, 1), ::dup2(err, 2);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  Run r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.hung = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!r.hung && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  return r;
}

// Every file under `dir` with its contents: a run that must not write compares equal.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    files[e.path().string()] = S_ISREG(st.st_mode) ? read_file(e.path().string())
                                                   : "<mode " + std::to_string(st.st_mode) + ">";
  }
  return files;
}

// The scratch folder of the table: one of each kind of bad input, and good files to pair with.
struct Fixture {
  TempDir tmp{"glassbox_programs"};
  std::string work, data, missing, empty, folder, fifo, random, checkpoint, weights, png,
      truncated_png, truncated_checkpoint, metrics, truncated_metrics;
  Fixture() {
    work = tmp.file("work");
    fs::create_directories(work);
    data = tmp.file("work/data");
    fs::create_directories(data);
    write_tiny_mnist(data);
    missing = tmp.file("work/no-such-file");
    empty = tmp.file("work/empty");
    write_file(empty, "");
    folder = tmp.file("work/a-folder");
    fs::create_directories(folder);
    fifo = tmp.file("work/a-fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    random = tmp.file("work/random.bin");
    write_file(random, random_bytes(4096, 7));
    checkpoint = tmp.file("work/good.ckpt");
    write_checkpoint(checkpoint);
    weights = tmp.file("work/weights.safetensors");
    write_weights(weights);
    png = tmp.file("work/digit.png");
    write_file(png, grey_png(28, 28));
    const std::string png_bytes = read_file(png);
    truncated_png = tmp.file("work/cut.png");
    write_file(truncated_png, png_bytes.substr(0, png_bytes.size() / 2));
    const std::string ckpt_bytes = read_file(checkpoint);
    truncated_checkpoint = tmp.file("work/cut.ckpt");
    write_file(truncated_checkpoint, ckpt_bytes.substr(0, ckpt_bytes.size() / 2));
    metrics = tmp.file("work/run.csv");
    write_file(metrics, "seconds,step,loss,accuracy\n0.5,10,2.2,0.1\n1.0,20,1.9,0.3\n");
    truncated_metrics = tmp.file("work/cut.csv");
    write_file(truncated_metrics, "seconds,step,loss,accuracy\n0.5,10,2.2,0.1\n1.0,2");
  }
  // The bad inputs of the table, each with a name for the failure message.
  std::vector<std::pair<std::string, std::string>> bad_inputs() const {
    return {{"missing", missing}, {"empty", empty},   {"folder", folder},
            {"fifo", fifo},       {"random", random}, {"truncated", truncated_checkpoint}};
  }
  // Output targets that must be refused before any work: a missing folder, a read-only place,
  // a folder, a FIFO.
  std::vector<std::pair<std::string, std::string>> bad_outputs(const std::string& name) const {
    return {{"missing folder", tmp.file("work/no-such-folder/" + name)},
            {"read-only place", "/proc/glassbox-test-" + name},
            {"a folder", folder},
            {"a fifo", fifo}};
  }
};

// The assertion of every row: status, the message names `what`, nothing written.
void expect_refused(const Fixture& f, const std::string& exe, const std::vector<std::string>& args,
                    int code, const std::string& what) {
  std::string line = exe.substr(exe.rfind('/') + 1);
  for (const std::string& a : args) line += " " + a;
  INFO("command: " << line);
  const auto before = snapshot(f.tmp.path);
  const Run r = run(exe, args, f.work, 20);
  INFO("stderr: " << r.err);
  CHECK_FALSE(r.hung);
  CHECK(r.code == code);
  CHECK(r.err.find(what) != std::string::npos);
  CHECK(r.err.find("terminate called") == std::string::npos);
  if (code == 2) CHECK(r.err.find("--help") != std::string::npos);
  CHECK(snapshot(f.tmp.path) == before);
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("parse_int: decimal digits in a range, nothing else") {
    CHECK(cli::parse_int("--n", "42", 0, 100) == 42);
    CHECK(cli::parse_int("--n", "-5", -10, 10) == -5);
    CHECK(cli::parse_int("--n", "9223372036854775807", 0, INT64_MAX) == INT64_MAX);
    for (const char* bad : {"", "abc", "0x10", "1e3", "12abc", " 1", "1 ", "+1", "--1", "1.0"})
      CHECK_THROWS_WITH_AS(cli::parse_int("--n", bad, 0, 100), has("--n expects a whole number"),
                           cli::UsageError);
    CHECK_THROWS_WITH_AS(cli::parse_int("--repeat", "0", 1, 10000),
                         has("--repeat must be a whole number from 1 to 10000, got '0'"),
                         cli::UsageError);
    CHECK_THROWS_WITH_AS(cli::parse_int("--repeat", "99999999999", 1, 10000),
                         has("from 1 to 10000"), cli::UsageError);
    CHECK_THROWS_WITH_AS(cli::parse_int("--n", "99999999999999999999999", 0, 5), has("from 0 to 5"),
                         cli::UsageError);
    // A long value is echoed cut short.
    try {
      cli::parse_int("--n", std::string(5000, '7'), 0, 5);
      FAIL("no error");
    } catch (const cli::UsageError& e) {
      CHECK(std::string(e.what()).size() < 400);
      CHECK(std::string(e.what()).find("(5000 characters)") != std::string::npos);
    }
  }

  TEST_CASE("parse_real: finite decimals in a range; inf, nan and hex are refused") {
    CHECK(cli::parse_real("--lr", "0.001", 0, 10, true) == 0.001);
    CHECK(cli::parse_real("--lr", "1e-3", 0, 10, true) == 0.001);
    CHECK(cli::parse_real("--lr", "+2.5", 0, 10) == 2.5);
    CHECK(cli::parse_real("--lr", ".5", 0, 10) == 0.5);
    CHECK(cli::parse_real("--lr", "3.", 0, 10) == 3.0);
    for (const char* bad : {"inf", "-inf", "nan", "NaN", "infinity", "0x10", "0x1p3", "1e", "e5",
                            "", ".", "1.2.3", "1,5", " 1", "1f"})
      CHECK_THROWS_WITH_AS(cli::parse_real("--lr", bad, 0, 10, true),
                           has("--lr expects a decimal number"), cli::UsageError);
    CHECK_THROWS_WITH_AS(cli::parse_real("--lr", "0", 0, 10, true),
                         has("greater than 0 and at most 10"), cli::UsageError);
    CHECK_THROWS_AS(cli::parse_real("--lr", "-1", 0, 10, true), cli::UsageError);
    CHECK_THROWS_AS(cli::parse_real("--lr", "11", 0, 10, true), cli::UsageError);
    CHECK_THROWS_AS(cli::parse_real("--lr", "1e999", 0, 10, true), cli::UsageError);
    CHECK(cli::parse_real("--w", "0", 0, 10) == 0.0);  // inclusive unless min_exclusive
  }

  TEST_CASE("Args: a flag table, = or a separate value, positionals, --help") {
    const std::vector<cli::FlagSpec> table = {{"lr"}, {"same", false}, {"compare", true, true}};
    std::vector<std::string> words = {"prog",  "in.png",    "--lr=0.5", "--same", "--compare",
                                      "a.csv", "--compare", "b.csv",    "--",     "--not-a-flag"};
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    const cli::Args args(int(argv.size()), argv.data(), table);
    CHECK(args.get("lr") == "0.5");
    CHECK(args.has("same"));
    CHECK(args.all("compare") == std::vector<std::string>{"a.csv", "b.csv"});
    CHECK(args.positional() == std::vector<std::string>{"in.png", "--not-a-flag"});

    auto parse = [&](std::vector<std::string> w) {
      w.insert(w.begin(), "prog");
      std::vector<char*> v;
      for (auto& s : w) v.push_back(s.data());
      return cli::Args(int(v.size()), v.data(), table);
    };
    CHECK(parse({"--help"}).help());
    CHECK_THROWS_WITH_AS(parse({"--bogus"}), has("unknown option '--bogus'"), cli::UsageError);
    CHECK_THROWS_WITH_AS(parse({"-x"}), has("unknown option '-x'"), cli::UsageError);
    CHECK_THROWS_WITH_AS(parse({"--lr"}), has("--lr needs a value"), cli::UsageError);
    CHECK_THROWS_WITH_AS(parse({"--lr", "--same"}), has("--lr needs a value, got the option"),
                         cli::UsageError);
    CHECK_THROWS_WITH_AS(parse({"--same=1"}), has("--same takes no value"), cli::UsageError);
    // an unset shell variable ("--resume $CKPT") must not quietly mean "no --resume"
    CHECK_THROWS_WITH_AS(parse({"--lr", ""}), has("--lr needs a value, got an empty one"),
                         cli::UsageError);
    CHECK_THROWS_WITH_AS(parse({"--lr="}), has("--lr needs a value, got an empty one"),
                         cli::UsageError);
    CHECK_THROWS_WITH_AS(parse({"--lr", "1", "--lr", "2"}), has("--lr is given twice"),
                         cli::UsageError);
  }

  TEST_CASE("run_main: every exception becomes one message and an exit status") {
    struct Capture {
      std::ostringstream text;
      std::streambuf* old = std::cerr.rdbuf(text.rdbuf());
      ~Capture() { std::cerr.rdbuf(old); }
    };
    auto status = [](std::function<int()> body, std::string& message) {
      Capture c;
      const int code = cli::run_main("prog", body);
      message = c.text.str();
      return code;
    };
    std::string m;
    CHECK(status([] { return 0; }, m) == 0);
    CHECK(status([]() -> int { throw cli::UsageError("--n is bad"); }, m) == 2);
    CHECK(m == "prog: --n is bad (see prog --help)\n");
    CHECK(status([]() -> int { throw Error("file 'x' is bad"); }, m) == 1);
    CHECK(m == "prog: file 'x' is bad\n");
    cli::doing("loading the data set");
    CHECK(status([]() -> int { throw std::bad_alloc(); }, m) == 1);
    CHECK(m == "prog: out of memory while loading the data set\n");
    CHECK(status([]() -> int { return std::stoi("abc"); }, m) == 1);
    CHECK(m.find("prog: failed while loading the data set: stoi") == 0);
    CHECK(status([]() -> int { throw 42; }, m) == 1);
    CHECK(m.find("unknown exception") != std::string::npos);
    cli::doing("");
  }

  TEST_CASE("check_input_file: missing, folder, FIFO, empty; a good file passes") {
    Fixture f;
    CHECK_NOTHROW(cli::check_input_file("--resume", f.checkpoint));
    CHECK_THROWS_WITH_AS(cli::check_input_file("--resume", f.missing), has("no such file"), Error);
    CHECK_THROWS_WITH_AS(cli::check_input_file("--resume", f.folder), has("is a folder"), Error);
    CHECK_THROWS_WITH_AS(cli::check_input_file("--resume", f.fifo), has("FIFO"), Error);
    CHECK_THROWS_WITH_AS(cli::check_input_file("--resume", f.empty), has("is empty"), Error);
    CHECK_THROWS_WITH_AS(cli::check_input_file("--resume", "/dev/zero"), has("a device"), Error);
  }

  TEST_CASE("check_output_file: the folder must take files, the target be a regular file") {
    Fixture f;
    const auto before = snapshot(f.tmp.path);
    CHECK_NOTHROW(cli::check_output_file("--save", f.tmp.file("work/new.ckpt")));
    CHECK_NOTHROW(cli::check_output_file("--save", f.checkpoint));  // existing: not truncated
    CHECK(snapshot(f.tmp.path) == before);                          // the probe leaves nothing
    CHECK_THROWS_WITH_AS(cli::check_output_file("--save", f.tmp.file("nope/x.ckpt")),
                         has("does not exist"), Error);
    CHECK_THROWS_WITH_AS(cli::check_output_file("--save", "/proc/glassbox.ckpt"),
                         has("cannot create files in the folder '/proc'"), Error);
    CHECK_THROWS_WITH_AS(cli::check_output_file("--save", f.folder), has("is a folder"), Error);
    CHECK_THROWS_WITH_AS(cli::check_output_file("--save", f.fifo), has("FIFO"), Error);
    CHECK_THROWS_WITH_AS(cli::check_output_file("--save", f.checkpoint + "/x"),
                         has("is not a folder"), Error);
    CHECK_THROWS_WITH_AS(cli::check_distinct_outputs(
                             {{"--save", f.checkpoint}, {"--export", f.work + "/./good.ckpt"}}),
                         has("--save and --export both name"), Error);
  }

  TEST_CASE("RunLock: a second holder fails naming the first; a killed holder frees it") {
    TempDir tmp;
    const std::string target = tmp.file("run.ckpt");
    {
      cli::RunLock lock(target, "mnist");
      CHECK(fs::exists(target + ".lock"));
      // flock conflicts between open file descriptions, so a second lock in this process
      // stands in for a second run.
      CHECK_THROWS_WITH_AS(cli::RunLock(target, "mnist"),
                           has("another mnist run (pid " + std::to_string(::getpid()) +
                               ") is saving to '" + target + "'"),
                           Error);
    }
    CHECK_FALSE(fs::exists(target + ".lock"));  // released and removed
    // A holder killed by SIGKILL: the kernel drops the lock, the stale file does not block.
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        cli::RunLock lock(target, "mnist");
        (void)!::write(ready[1], "x", 1);
        ::pause();
      } catch (...) {
      }
      ::_exit(1);
    }
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    CHECK_THROWS_WITH_AS(cli::RunLock(target, "mnist"), has("(pid " + std::to_string(child) + ")"),
                         Error);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    CHECK(fs::exists(target + ".lock"));  // left behind by the killed run
    CHECK_NOTHROW(cli::RunLock(target, "mnist"));
    ::close(ready[0]);
    ::close(ready[1]);
  }
}

#ifdef GLASSBOX_MNIST_EXE
TEST_SUITE("programs") {
  TEST_CASE("mnist: bad flag values exit 2 naming the flag, before anything is read") {
    Fixture f;
    const std::vector<std::vector<std::string>> rows = {{"--lr", "inf"},
                                                        {"--lr", "nan"},
                                                        {"--lr", "0x10"},
                                                        {"--lr", "-1"},
                                                        {"--lr", "0"},
                                                        {"--epochs", "abc"},
                                                        {"--epochs", "99999999999999999999"},
                                                        {"--epochs", "-1"},
                                                        {"--batch", "0"},
                                                        {"--batch", "1e3"},
                                                        {"--seed", "-1"},
                                                        {"--threads", "10000"},
                                                        {"--threads", "abc"},
                                                        {"--threads", "0"},
                                                        {"--subset", "0"},
                                                        {"--conv-algo", "nope"},
                                                        {"--dataset", "cifar"},
                                                        {"--device", "tpu"},
                                                        {"--bogus", "1"},
                                                        {"--save"},
                                                        {"--skip-md5"},
                                                        {"--compare", "x.csv"},
                                                        {"stray"}};
    for (const auto& row : rows) {
      const std::string what = row[0].rfind("--", 0) == 0 ? row[0] : "stray";
      expect_refused(f, GLASSBOX_MNIST_EXE, row, 2, what);
    }
    // The thread limit is stated.
    const Run r = run(GLASSBOX_MNIST_EXE, {"--threads", "10000"}, f.work);
    CHECK(r.err.find("to " + std::to_string(cli::max_threads())) != std::string::npos);
  }

  TEST_CASE("mnist --resume: every bad checkpoint exits 1 naming it, before the data") {
    Fixture f;
    for (const auto& [kind, path] : f.bad_inputs()) {
      INFO(kind);
      // No --data: were the data read first, these would fail on the data, not the file.
      expect_refused(f, GLASSBOX_MNIST_EXE, {"--resume", path}, 1, path);
    }
    // Weights only: say what it is and who can use it.
    const Run r = run(GLASSBOX_MNIST_EXE, {"--resume", f.weights}, f.work);
    CHECK(r.code == 1);
    CHECK(r.err.find("holds weights only") != std::string::npos);
    CHECK(r.err.find("predict") != std::string::npos);
    CHECK(r.err.find("nn::load") == std::string::npos);
  }

  TEST_CASE("mnist --resume: bad extra.* values name the checkpoint, the key and the range") {
    Fixture f;
    struct Row {
      std::map<std::string, std::string> change;
      std::string key;
    };
    const std::vector<Row> rows = {
        {{{"test_batch_next", "abc"}}, "extra.test_batch_next"},
        {{{"test_batch_next", "-5"}}, "extra.test_batch_next"},
        {{{"batch_size", "0"}}, "extra.batch_size"},
        {{{"batch_size", "10x"}}, "extra.batch_size"},
        {{{"train_examples", "99999999999999999999"}}, "extra.train_examples"},
        {{{"elapsed_seconds", "inf"}}, "extra.elapsed_seconds"},
        {{{"elapsed_seconds", "-3"}}, "extra.elapsed_seconds"},
        {{{"test_batch_next", ""}}, "extra.test_batch_next"}};
    for (const Row& row : rows) {
      const std::string path = f.tmp.file("work/bad.ckpt");
      write_checkpoint(path, row.change);
      INFO(row.key);
      expect_refused(f, GLASSBOX_MNIST_EXE, {"--resume", path}, 1, row.key);
      const Run r = run(GLASSBOX_MNIST_EXE, {"--resume", path}, f.work);
      CHECK(r.err.find(path) != std::string::npos);
    }
    // In range for any data but not for this test set (10 images): caught before training.
    const std::string path = f.tmp.file("work/bad.ckpt");
    write_checkpoint(path, {{"test_batch_next", "10"}});
    expect_refused(f, GLASSBOX_MNIST_EXE,
                   {"--resume", path, "--data", f.data, "--skip-md5", "--batch", "10"}, 1,
                   "must be below the 10 test examples");
  }

  TEST_CASE("mnist: every output is checked before the data is loaded") {
    Fixture f;
    for (const char* flag : {"--save", "--export", "--metrics", "--plot"}) {
      for (const auto& [kind, path] : f.bad_outputs("out.png")) {
        INFO(flag << " into " << kind);
        expect_refused(f, GLASSBOX_MNIST_EXE, {flag, path}, 1, path);
      }
    }
    // --plot's derived .csv lies in the same folder; --compare inputs are checked too.
    for (const auto& [kind, path] : f.bad_inputs()) {
      INFO("--compare " << kind);
      expect_refused(f, GLASSBOX_MNIST_EXE, {"--plot", f.tmp.file("work/p.png"), "--compare", path},
                     1, path);
    }
    expect_refused(f, GLASSBOX_MNIST_EXE,
                   {"--plot", f.tmp.file("work/p.png"), "--compare", f.truncated_metrics}, 1,
                   f.truncated_metrics);
    expect_refused(f, GLASSBOX_MNIST_EXE,
                   {"--save", f.tmp.file("work/x.ckpt"), "--export", f.tmp.file("work/x.ckpt")}, 1,
                   "both name");
  }

  TEST_CASE("mnist: bad data and --subset beyond the data set") {
    Fixture f;
    expect_refused(f, GLASSBOX_MNIST_EXE, {"--data", f.missing}, 1, f.missing);
    expect_refused(f, GLASSBOX_MNIST_EXE, {"--data", f.data, "--skip-md5", "--subset", "21"}, 2,
                   "--subset 21 is more than the 20 training images");
    // Without --skip-md5 the tiny files are not MNIST: the MD5 check names the file.
    expect_refused(f, GLASSBOX_MNIST_EXE, {"--data", f.data}, 1, "train-images-idx3-ubyte");
    // A truncated IDX file.
    const std::string images = f.data + "/train-images-idx3-ubyte";
    const std::string bytes = read_file(images);
    write_file(images, bytes.substr(0, bytes.size() - 100));
    expect_refused(f, GLASSBOX_MNIST_EXE, {"--data", f.data, "--skip-md5"}, 1, images);
  }

  TEST_CASE("mnist: a tiny run, its resume with a new --lr, and predict on the result") {
    Fixture f;
    const std::string ckpt = f.tmp.file("work/run.ckpt"), csv = f.tmp.file("work/run.csv"),
                      weights = f.tmp.file("work/w.safetensors");
    Run r = run(GLASSBOX_MNIST_EXE,
                {"--data", f.data, "--skip-md5", "--epochs", "1", "--batch", "10", "--threads", "1",
                 "--save", ckpt, "--metrics", csv, "--export", weights},
                f.work);
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(fs::exists(ckpt));
    CHECK(fs::exists(weights));
    CHECK_FALSE(fs::exists(ckpt + ".lock"));
    CHECK(mnist::check_resume(ckpt).epoch == 1);
    r = run(GLASSBOX_MNIST_EXE,
            {"--data", f.data, "--skip-md5", "--epochs", "2", "--batch", "10", "--threads", "1",
             "--resume", ckpt, "--save", ckpt, "--lr", "0.01"},
            f.work);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("lr 0.01 (the checkpoint had 0.001)") != std::string::npos);
    const mnist::ResumeInfo info = mnist::check_resume(ckpt);
    CHECK(info.epoch == 2);
    CHECK(info.lr == 0.01);  // the new lr was used, and saved
    r = run(GLASSBOX_MNIST_EXE,
            {"--data", f.data, "--skip-md5", "--epochs", "2", "--batch", "10", "--resume", ckpt},
            f.work);
    CHECK(r.out.find("lr 0.01 (from the checkpoint)") != std::string::npos);
    r = run(GLASSBOX_PREDICT_EXE, {weights, f.png}, f.work);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("digit.png:") != std::string::npos);
  }

  TEST_CASE("mnist --detect-anomaly: a healthy run trains as usual with every op checked") {
    Fixture f;
    const Run r = run(GLASSBOX_MNIST_EXE,
                      {"--data", f.data, "--skip-md5", "--epochs", "1", "--batch", "10",
                       "--threads", "1", "--detect-anomaly"},
                      f.work);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("anomaly detection on") != std::string::npos);
    CHECK(r.out.find("test accuracy: ") != std::string::npos);
  }

  TEST_CASE("mnist --detect-anomaly: weights that overflow name the first layer that made Inf") {
    Fixture f;
    // a resumable checkpoint whose conv1 weights are near float's maximum: conv1's output
    // overflows to Inf although its inputs and weights are finite
    const std::string ckpt = f.tmp.file("work/huge.ckpt");
    write_checkpoint(ckpt);
    Metadata meta;
    TensorMap tensors = load_safetensors(ckpt, &meta);
    Tensor& w = tensors.at("model.conv1.weight");
    w = full(w.shape(), 3e38);
    save_safetensors(ckpt, tensors, meta);
    const std::vector<std::string> resume = {"--data", f.data,     "--skip-md5", "--epochs",
                                             "2",      "--batch",  "10",         "--threads",
                                             "1",      "--resume", ckpt};
    std::vector<std::string> checked = resume;
    checked.push_back("--detect-anomaly");
    const Run r = run(GLASSBOX_MNIST_EXE, checked, f.work);
    CHECK(r.code == 1);
    CHECK(r.err.find("anomaly in forward: 'conv2d'") != std::string::npos);
    CHECK(r.err.find("in MnistNet.conv1 (Conv2d)") != std::string::npos);
    INFO(r.err);
  }

  TEST_CASE("mnist --save: a second run on the same file fails at once naming the first") {
    Fixture f;
    const std::string ckpt = f.tmp.file("work/shared.ckpt");
    const std::vector<std::string> args = {"--data",    f.data, "--skip-md5", "--batch", "10",
                                           "--threads", "1",    "--save",     ckpt};
    {
      // This process holds the lock, as a running mnist would.
      cli::RunLock lock(ckpt, "mnist");
      std::vector<std::string> a = args;
      a.insert(a.end(), {"--epochs", "1"});
      const Run r = run(GLASSBOX_MNIST_EXE, a, f.work);
      CHECK(r.code == 1);
      CHECK(r.err.find("another mnist run (pid " + std::to_string(::getpid()) + ") is saving to '" +
                       ckpt + "'") != std::string::npos);
      CHECK_FALSE(fs::exists(ckpt));
    }
    // Two real runs. The first would train for 100000 epochs (a few minutes of tiny epochs),
    // so it surely holds the lock while the second starts; it is killed after 8 s, which also
    // shows that a killed run leaves a whole checkpoint and a lock the kernel has released.
    std::vector<std::string> first = args;
    first.insert(first.end(), {"--epochs", "100000"});
    Run result_a;
    std::thread a([&] { result_a = run(GLASSBOX_MNIST_EXE, first, f.work, 8); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
    while (read_file(ckpt + ".lock").empty() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::vector<std::string> second = args;
    second.insert(second.end(), {"--epochs", "1"});
    const Run b = run(GLASSBOX_MNIST_EXE, second, f.work);
    a.join();
    INFO("first: " << result_a.err.substr(0, 2000));
    INFO("second: " << b.err);
    CHECK(result_a.hung);  // still training when the second run came and went
    CHECK(b.code == 1);
    CHECK(b.err.find("another mnist run (pid ") != std::string::npos);
    // The file is the first run's, whole (every load checks both CRCs), at some epoch >= 1.
    CHECK(mnist::check_resume(ckpt).epoch >= 1);
    // and the killed run's lock is free again
    std::vector<std::string> third = args;
    third.insert(third.end(), {"--epochs", "1"});
    CHECK(run(GLASSBOX_MNIST_EXE, third, f.work).code == 0);
  }

  TEST_CASE("predict: bad checkpoints, bad images and bad flags") {
    Fixture f;
    for (const auto& [kind, path] : f.bad_inputs()) {
      INFO("checkpoint " << kind);
      expect_refused(f, GLASSBOX_PREDICT_EXE, {path, f.png}, 1, path);
    }
    auto images = f.bad_inputs();
    images.back() = {"truncated", f.truncated_png};
    for (const auto& [kind, path] : images) {
      INFO("image " << kind);
      expect_refused(f, GLASSBOX_PREDICT_EXE, {f.weights, f.png, path}, 1, path);
    }
    for (const std::vector<std::string>& flags : {std::vector<std::string>{"--top", "0"},
                                                  {"--top", "abc"},
                                                  {"--top", "99999999999"},
                                                  {"--top", "11"},
                                                  {"--dataset", "cifar"},
                                                  {"--device", "tpu"},
                                                  {"--bogus"}}) {
      std::vector<std::string> a = {f.weights, f.png};
      a.insert(a.end(), flags.begin(), flags.end());
      expect_refused(f, GLASSBOX_PREDICT_EXE, a, 2, flags[0]);
    }
    expect_refused(f, GLASSBOX_PREDICT_EXE, {f.weights}, 2, "at least one image");
    // A training checkpoint works as well as plain weights.
    const Run r = run(GLASSBOX_PREDICT_EXE, {f.checkpoint, f.png}, f.work);
    CHECK(r.code == 0);
  }

  TEST_CASE("filters: bad input, bad output and bad flags") {
    Fixture f;
    const std::string out = f.tmp.file("work/out.png");
    auto inputs = f.bad_inputs();
    inputs.back() = {"truncated", f.truncated_png};
    for (const auto& [kind, path] : inputs) {
      INFO("input " << kind);
      expect_refused(f, GLASSBOX_FILTERS_EXE, {path, out}, 1, path);
    }
    for (const auto& [kind, path] : f.bad_outputs("out.png")) {
      INFO("output into " << kind);
      expect_refused(f, GLASSBOX_FILTERS_EXE, {f.png, path}, 1, path);
    }
    for (const std::vector<std::string>& flags : {std::vector<std::string>{"--repeat", "abc"},
                                                  {"--repeat", "99999999999"},
                                                  {"--repeat", "0"},
                                                  {"--repeat", "-1"},
                                                  {"--threads", "abc"},
                                                  {"--threads", "10000"},
                                                  {"--kernel", "1,2,3,4,inf,6,7,8,9"},
                                                  {"--kernel", "1,2,3"},
                                                  {"--kernel", "0x1,0,0,0,0,0,0,0,0"},
                                                  {"--algo", "nope"},
                                                  {"--device", "tpu"},
                                                  {"--bogus"}}) {
      std::vector<std::string> a = {f.png, out};
      a.insert(a.end(), flags.begin(), flags.end());
      expect_refused(f, GLASSBOX_FILTERS_EXE, a, 2, flags[0]);
    }
    expect_refused(f, GLASSBOX_FILTERS_EXE, {f.png}, 2, "two file names");
    const Run r =
        run(GLASSBOX_FILTERS_EXE, {f.png, out, "--repeat", "1", "--algo", "direct"}, f.work);
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(fs::file_size(out) > 0);
  }

  TEST_CASE("mnist_plot: bad metrics files, bad outputs and usage errors") {
    Fixture f;
    const std::string out = f.tmp.file("work/plot.png");
    auto inputs = f.bad_inputs();
    inputs.back() = {"truncated", f.truncated_metrics};
    for (const auto& [kind, path] : inputs) {
      INFO("metrics " << kind);
      expect_refused(f, GLASSBOX_MNIST_PLOT_EXE, {out, f.metrics, path}, 1, path);
    }
    for (const auto& [kind, path] : f.bad_outputs("plot.png")) {
      if (kind == "a folder" || kind == "a fifo") continue;  // no .png name: a usage error
      INFO("output into " << kind);
      expect_refused(f, GLASSBOX_MNIST_PLOT_EXE, {path, f.metrics}, 1, path);
    }
    const std::string folder_png = f.tmp.file("work/dir.png");
    fs::create_directories(folder_png);
    expect_refused(f, GLASSBOX_MNIST_PLOT_EXE, {folder_png, f.metrics}, 1, folder_png);
    expect_refused(f, GLASSBOX_MNIST_PLOT_EXE, {}, 2, "needs OUT.png");
    expect_refused(f, GLASSBOX_MNIST_PLOT_EXE, {"-o", out, f.metrics}, 2, "-o");
    expect_refused(f, GLASSBOX_MNIST_PLOT_EXE, {f.metrics, f.metrics}, 2, "must end in .png");
  }
}
#endif
