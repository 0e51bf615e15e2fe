// PyTorch interoperability, both directions, through safetensors files:
//  - weights PyTorch trained (tests/fixtures/mnist_net_torch.safetensors, made by
//    make_mnist_fixture.py and committed) load into glassbox's MnistNet under the same names
//    and give PyTorch's log-probabilities, with every convolution algorithm;
//  - weights glassbox trained give glassbox's log-probabilities in PyTorch
//    (tests/fixtures/check_torch_logits.py);
//  - scripts/torch_to_safetensors.py and scripts/safetensors_to_torch.py round-trip tensors
//    bit for bit.
// The first needs no Python. The others run /usr/bin/python3 with PyTorch (Debian's
// python3-torch) and say they skipped when it is not installed.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "glassbox.h"
#include "net.h"
#include "train.h"

using namespace glassbox;
namespace fs = std::filesystem;

namespace {

const std::string kSource = GLASSBOX_SOURCE_DIR;
const std::string kPython = "/usr/bin/python3";

// A fresh directory under the system temp dir, removed with everything in it.
struct InteropTempDir {
  fs::path path;
  InteropTempDir() {
    std::string tmpl = (fs::temp_directory_path() / "glassbox_interop_XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    REQUIRE(::mkdtemp(buf.data()) != nullptr);
    path = buf.data();
  }
  ~InteropTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  InteropTempDir(const InteropTempDir&) = delete;
  InteropTempDir& operator=(const InteropTempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Single-quoted for /bin/sh, so paths with spaces or quotes survive.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `command` through the shell with stdout and stderr going to `log`; returns its exit
// status (-1 if it did not exit normally).
int run(const std::string& command, const std::string& log) {
  const int status = std::system((command + " >" + quote(log) + " 2>&1").c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Runs a Python script with /usr/bin/python3 and returns its exit status; its output is
// attached to the test report.
int run_python(const std::string& args, const InteropTempDir& dir) {
  const std::string log = dir.file("python.log");
  const int rc = run(quote(kPython) + " " + args, log);
  const std::string output = read_text(log);
  MESSAGE("python3 " << args << " -> exit " << rc << "\n" << output);
  return rc;
}

bool have_torch() {
  static const bool ok =
      std::system((quote(kPython) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
  return ok;
}

TensorMap to_map(const nn::OrderedDict<Tensor>& dict) {
  TensorMap map;
  for (const auto& [name, value] : dict) map[name] = value;
  return map;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> x = a.to(kFloat32).to_vector<float>();
  const std::vector<float> y = b.to(kFloat32).to_vector<float>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(x[i]) - static_cast<double>(y[i])));
  return worst;
}

std::vector<int64_t> argmax_rows(const Tensor& t) { return argmax(t, 1).to_vector<int64_t>(); }

// Same keys, dtypes, shapes and bytes.
void check_identical(const TensorMap& expected, const TensorMap& actual) {
  REQUIRE(expected.size() == actual.size());
  for (const auto& [name, want] : expected) {
    CAPTURE(name);
    REQUIRE(actual.count(name) == 1);
    const Tensor& got = actual.at(name);
    CHECK(got.dtype() == want.dtype());
    REQUIRE(got.shape() == want.shape());
    const Tensor a = want.contiguous(), b = got.contiguous();
    CHECK(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0);
  }
}

// Restores the global default convolution algorithm, even when a REQUIRE fails.
struct ConvAlgoRestore {
  ~ConvAlgoRestore() { F::set_default_conv_algo(F::ConvAlgo::Auto); }
};

}  // namespace

TEST_SUITE("interop") {
  TEST_CASE("PyTorch-trained weights give PyTorch's logits") {
    Metadata meta;
    TensorMap state =
        load_safetensors(kSource + "/tests/fixtures/mnist_net_torch.safetensors", &meta);
    for (const char* key : {"input", "logits", "labels"}) REQUIRE(state.count(key) == 1);
    const Tensor input = state.at("input"), expected = state.at("logits");
    const Tensor labels = state.at("labels");
    for (const char* key : {"input", "logits", "labels"}) state.erase(key);
    CHECK(input.shape() == Shape{64, 1, 28, 28});
    CHECK(expected.shape() == Shape{64, 10});
    MESSAGE("fixture from torch " << meta["torch"] << ", PyTorch test accuracy "
                                  << meta["test_accuracy"]);

    mnist::MnistNet net;
    static_cast<void>(net->load_state_dict(state, true));
    net->eval();
    const std::vector<int64_t> torch_pred = argmax_rows(expected);
    const std::vector<int64_t> truth = labels.to_vector<int64_t>();

    ConvAlgoRestore restore;
    for (F::ConvAlgo algo : {F::ConvAlgo::Direct, F::ConvAlgo::ShiftGemm, F::ConvAlgo::Im2col,
                             F::ConvAlgo::Flat, F::ConvAlgo::Auto}) {
      const std::string algo_name = F::conv_algo_name(algo);
      CAPTURE(algo_name);
      F::set_default_conv_algo(algo);
      NoGradGuard no_grad;
      const Tensor out = net->forward(input);
      REQUIRE(out.shape() == expected.shape());
      const double diff = max_abs_diff(out, expected);
      const std::vector<int64_t> pred = argmax_rows(out);
      int64_t correct = 0;
      for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
      MESSAGE(algo_name << ": max abs log-prob diff vs PyTorch " << diff << ", " << correct
                        << "/64 correct");
      CHECK(diff <= 1e-5);
      CHECK(pred == torch_pred);
    }
  }

  TEST_CASE("glassbox weights give the same logits in PyTorch") {
    if (!have_torch()) {
      MESSAGE("skipped: python3-torch not installed");
      return;
    }
    // A few Adam steps on random data, so the weights are glassbox's own, not the init.
    manual_seed(7);
    mnist::MnistNet net;
    optim::Adam adam(net->parameters(), optim::AdamOptions(1e-2));
    const Tensor train_x = randn({16, 1, 28, 28});
    std::vector<int64_t> y(16);
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>((i * 7) % 10);
    const Tensor train_y = from_vector<int64_t>(y, {16});
    const Tensor fc2_init = net->state_dict().at("fc2.weight").clone();
    for (int step = 0; step < 5; ++step) {
      adam.zero_grad();
      F::nll_loss(net->forward(train_x), train_y).backward();
      adam.step();
    }
    CHECK(max_abs_diff(net->state_dict().at("fc2.weight"), fc2_init) > 1e-4);

    net->eval();
    const Tensor input = randn({8, 1, 28, 28});
    Tensor logits;
    {
      NoGradGuard no_grad;
      logits = net->forward(input);
    }
    TensorMap file = to_map(net->state_dict());
    file["input"] = input;
    file["logits"] = logits;
    InteropTempDir dir;
    const std::string path = dir.file("glassbox_net.safetensors");
    save_safetensors(path, file, {{"generator", "tests/test_interop.cpp"}});
    const int rc = run_python(
        quote(kSource + "/tests/fixtures/check_torch_logits.py") + " " + quote(path), dir);
    CHECK(rc == 0);
  }

  TEST_CASE("the converters round-trip tensors between glassbox and PyTorch exactly") {
    if (!have_torch()) {
      MESSAGE("skipped: python3-torch not installed");
      return;
    }
    InteropTempDir dir;
    const std::string to_torch = quote(kSource + "/scripts/safetensors_to_torch.py");
    const std::string to_st = quote(kSource + "/scripts/torch_to_safetensors.py");

    SUBCASE("glassbox -> .pt -> glassbox, every glassbox dtype") {
      manual_seed(3);
      TensorMap in;
      in["weight"] = randn({4, 3});
      in["bias.f64"] = randn({5}, dtype(kFloat64));
      in["steps"] = scalar_tensor(-42, dtype(kInt64));
      in["ids"] = from_vector<int64_t>({1, -2, 3000000000LL, 4}, {2, 2});
      in["bytes"] = from_vector<uint8_t>({0, 1, 127, 128, 255, 7}, {3, 2});
      in["mask"] = from_vector<bool>({true, false, false, true}, {4});
      in["empty"] = zeros({0, 3});
      mnist::MnistNet net;
      for (const auto& [name, t] : net->state_dict()) in["net." + name] = t;
      const std::string a = dir.file("a.safetensors"), pt = dir.file("a.pt"),
                        b = dir.file("b.safetensors");
      save_safetensors(a, in);
      REQUIRE(run_python(to_torch + " " + quote(a) + " " + quote(pt), dir) == 0);
      REQUIRE(run_python(to_st + " " + quote(pt) + " " + quote(b), dir) == 0);
      Metadata meta;
      check_identical(in, load_safetensors(b, &meta));
      CHECK(meta["format"] == "pt");
    }

    SUBCASE("a PyTorch checkpoint: the state_dict entry, non-contiguous tensors") {
      const std::string pt = dir.file("ckpt.pt"), out = dir.file("ckpt.safetensors");
      const std::string make =
          "-c \"import sys, torch; torch.save({'epoch': 3, 'state_dict': {"
          "'w': torch.arange(6, dtype=torch.float32).reshape(2, 3).t(), "
          "'n': torch.tensor(7), 'b': torch.tensor([True, False])}}, sys.argv[1])\" " +
          quote(pt);
      REQUIRE(run_python(make, dir) == 0);
      REQUIRE(run_python(to_st + " " + quote(pt) + " " + quote(out), dir) == 0);
      const TensorMap got = load_safetensors(out);
      REQUIRE(got.size() == 3);
      CHECK(got.at("w").shape() == Shape{3, 2});
      CHECK(got.at("w").to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
      CHECK(got.at("n").dtype() == kInt64);
      CHECK(got.at("n").dim() == 0);
      CHECK(got.at("n").item<int64_t>() == 7);
      CHECK(got.at("b").to_vector<bool>() == std::vector<bool>{true, false});
    }

    SUBCASE("unsupported dtypes and bad files are refused with an exit status") {
      const std::string pt = dir.file("complex.pt"), out = dir.file("complex.safetensors");
      REQUIRE(run_python("-c \"import sys, torch; torch.save({'z': torch.zeros(2, "
                         "dtype=torch.complex64)}, sys.argv[1])\" " +
                             quote(pt),
                         dir) == 0);
      CHECK(run_python(to_st + " " + quote(pt) + " " + quote(out), dir) == 1);
      CHECK_FALSE(fs::exists(out));
      const std::string log = read_text(dir.file("python.log"));
      CHECK(log.find("complex64") != std::string::npos);

      const std::string junk = dir.file("junk.safetensors");
      std::ofstream(junk) << "not a safetensors file";
      CHECK(run_python(to_torch + " " + quote(junk) + " " + quote(dir.file("junk.pt")), dir) == 1);
      CHECK(run_python(to_torch, dir) == 2);  // usage
    }
  }
}
