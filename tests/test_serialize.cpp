// Tests for nn::save / nn::load (nn/serialize.h) and Module::load_state_dict's LoadReport:
// a round trip that reproduces a model's outputs (batch-norm running statistics included),
// strict loads that list every problem in one error and change nothing, non-strict loads
// that load what matches and report the rest, damaged and missing files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "glassbox.h"
#include "nn/serialize.h"

using namespace glassbox;
using doctest::Contains;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  REQUIRE(f.good());
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(f.good());
}

// Bit-exact comparison: same dtype, same shape, same bytes.
bool identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.cpu().contiguous(), cb = b.cpu().contiguous();
  return ca.nbytes() == cb.nbytes() &&
         (ca.nbytes() == 0 || std::memcmp(ca.raw_data(), cb.raw_data(), ca.nbytes()) == 0);
}

// conv -> batch norm -> relu -> linear: parameters, running statistics and an int64 counter.
struct SmallNetImpl : nn::Module {
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
  nn::Linear fc{nullptr};
  SmallNetImpl() {
    conv = register_module("conv", nn::Conv2d(2, 3, 3));
    bn = register_module("bn", nn::BatchNorm2d(3));
    fc = register_module("fc", nn::Linear(3 * 4 * 4, 5));
  }
  Tensor forward(const Tensor& x) { return fc(relu(bn(conv(x))).flatten(1)); }
};
GB_MODULE(SmallNet);

// A net whose every state entry differs from a fresh one: trained running statistics, a
// counter of 3, and non-default batch-norm affine parameters.
SmallNet trained_net(uint64_t seed) {
  manual_seed(seed);
  SmallNet net;
  NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) net(randn({4, 2, 6, 6}) * 2.0 + 0.5);
  net->bn->weight.copy_(randn({3}));
  net->bn->bias.copy_(randn({3}));
  return net;
}

// A deep copy of the state, to check what a failed load left unchanged.
std::map<std::string, Tensor> snapshot(const nn::Module& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [k, t] : m.state_dict()) out[k] = t.detach().clone();
  return out;
}

}  // namespace

TEST_SUITE("serialize") {
  TEST_CASE("save and load reproduce the model: parameters, running stats, outputs") {
    TempDir dir;
    const std::string path = dir.file("net.safetensors");
    SmallNet a = trained_net(1);
    REQUIRE(a->bn->num_batches_tracked.item<int64_t>() == 3);
    nn::save(*a, path, {{"epoch", "7"}});

    manual_seed(2);
    SmallNet b;
    REQUIRE_FALSE(identical(a->conv->weight, b->conv->weight));
    nn::LoadReport report = nn::load(*b, path);
    CHECK(report.ok());
    CHECK(report.to_string() == "everything matched");
    const auto sa = a->state_dict(), sb = b->state_dict();
    REQUIRE(sa.keys() == sb.keys());
    CHECK(sa.keys() == std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias",
                                                "bn.running_mean", "bn.running_var",
                                                "bn.num_batches_tracked", "fc.weight", "fc.bias"});
    for (size_t i = 0; i < sa.size(); ++i) {
      CAPTURE(sa[i].first);
      CHECK(identical(sa[i].second, sb[i].second));
    }
    CHECK(b->bn->num_batches_tracked.item<int64_t>() == 3);
    CHECK(b->bn->num_batches_tracked.dtype() == kInt64);
    // Loading copies into the registered tensors: handles stay valid, parameters stay leaves.
    CHECK(b->conv->weight.requires_grad());
    CHECK(b->parameters().size() == 6);

    a->eval();
    b->eval();
    manual_seed(3);
    Tensor x = randn({2, 2, 6, 6});
    CHECK(identical(a(x), b(x)));
    a->train();
    b->train();
    CHECK(identical(a(x), b(x)));  // batch statistics; the running ones moved identically too
    CHECK(identical(a->bn->running_mean, b->bn->running_mean));

    // The file: PyTorch's names, our metadata plus "format": "pt", a checksum that is checked.
    Metadata meta;
    TensorMap file = load_safetensors(path, &meta);
    CHECK(meta == Metadata{{"epoch", "7"}, {"format", "pt"}});
    CHECK(file.size() == 9);
    CHECK(file.at("bn.num_batches_tracked").dtype() == kInt64);
    CHECK(file.at("conv.weight").shape() == Shape{3, 2, 3, 3});
    const Bytes bytes = read_bytes(path);
    CHECK(std::string(bytes.begin(), bytes.begin() + 200).find("glassbox.crc32") !=
          std::string::npos);
    // a caller's "format" is kept
    nn::save(*a, path, {{"format", "glassbox"}});
    Metadata meta2;
    load_safetensors(path, &meta2);
    CHECK(meta2 == Metadata{{"format", "glassbox"}});
    CHECK(dir.entries() == std::vector<std::string>{"net.safetensors"});
  }

  TEST_CASE("strict load: one error lists every problem and changes nothing") {
    TempDir dir;
    const std::string path = dir.file("other.safetensors");
    SmallNet source = trained_net(4);
    TensorMap state;
    for (const auto& [k, t] : source->state_dict()) state[k] = t;
    state.erase("fc.bias");                                        // missing
    state.erase("bn.running_var");                                 // missing
    state["head.weight"] = ones({2, 2});                           // unexpected
    state["conv.weight"] = zeros({3, 2, 5, 5});                    // shape
    state["bn.bias"] = zeros({3}, dtype(kFloat64));                // dtype
    state["fc.weight"] = zeros({5, 3}, dtype(kFloat64));           // both
    state["bn.num_batches_tracked"] = zeros({}, dtype(kFloat32));  // a float counter
    save_safetensors(path, state);

    SmallNet net = trained_net(5);
    const auto before = snapshot(*net);
    const std::string message = "nn::load(" + path +
                                "): load_state_dict: the file does not match SmallNet (2 missing, "
                                "1 unexpected, 4 mismatched); nothing was loaded:\n"
                                "  missing: 'bn.running_var', 'fc.bias'\n"
                                "  unexpected: 'head.weight'\n"
                                "  mismatched: conv.weight: shape [3,2,3,3] in the model, "
                                "[3,2,5,5] in the file\n"
                                "  mismatched: bn.bias: float32 in the model, float64 in the file\n"
                                "  mismatched: bn.num_batches_tracked: int64 in the model, "
                                "float32 in the file\n"
                                "  mismatched: fc.weight: float32 [5,48] in the model, "
                                "float64 [5,3] in the file";
    CHECK_THROWS_WITH_AS(nn::load(*net, path), message.c_str(), Error);
    for (const auto& [k, t] : net->state_dict()) {
      CAPTURE(k);
      CHECK(identical(t, before.at(k)));  // not even the entries that matched were loaded
    }

    // Straight from a TensorMap, the state is "the state dict".
    CHECK_THROWS_WITH_AS(
        net->load_state_dict(state),
        Contains("load_state_dict: the state dict does not match SmallNet (2 missing"), Error);
    CHECK_THROWS_WITH_AS(net->load_state_dict(state),
                         Contains("conv.weight: shape [3,2,3,3] in the model, [3,2,5,5] in the "
                                  "state dict"),
                         Error);
    // One problem alone is reported too.
    TensorMap almost;
    for (const auto& [k, t] : source->state_dict()) almost[k] = t;
    almost["conv.bias"] = zeros({3}, dtype(kFloat64));
    CHECK_THROWS_WITH_AS(net->load_state_dict(almost),
                         "load_state_dict: the state dict does not match SmallNet (1 mismatched); "
                         "nothing was loaded:\n  mismatched: "
                         "conv.bias: float32 in the model, float64 in the state dict",
                         Error);
    almost["conv.bias"] = Tensor();
    CHECK_THROWS_WITH_AS(net->load_state_dict(almost),
                         Contains("conv.bias: float32 [3] in the model, an undefined tensor in "
                                  "the state dict"),
                         Error);
    for (const auto& [k, t] : net->state_dict()) CHECK(identical(t, before.at(k)));
  }

  TEST_CASE("non-strict load: loads what matches, reports the rest") {
    TempDir dir;
    const std::string path = dir.file("partial.safetensors");
    SmallNet source = trained_net(6);
    TensorMap state;
    for (const auto& [k, t] : source->state_dict()) state[k] = t;
    state.erase("fc.bias");
    state["extra.count"] = zeros({1});
    state["conv.weight"] = zeros({3, 2, 5, 5});
    state["bn.bias"] = zeros({3}, dtype(kFloat64));
    save_safetensors(path, state);

    SmallNet net = trained_net(7);
    const auto before = snapshot(*net);
    nn::LoadReport r = nn::load(*net, path, /*strict=*/false);
    CHECK_FALSE(r.ok());
    CHECK(r.missing == std::vector<std::string>{"fc.bias"});
    CHECK(r.unexpected == std::vector<std::string>{"extra.count"});
    CHECK(r.mismatched == std::vector<std::string>{
                              "conv.weight: shape [3,2,3,3] in the model, [3,2,5,5] in the file",
                              "bn.bias: float32 in the model, float64 in the file"});
    CHECK(r.to_string() ==
          "missing: 'fc.bias'\nunexpected: 'extra.count'\n"
          "mismatched: conv.weight: shape [3,2,3,3] in the model, [3,2,5,5] in the file\n"
          "mismatched: bn.bias: float32 in the model, float64 in the file");
    const auto after = net->state_dict();
    for (const std::string k : {"conv.weight", "bn.bias", "fc.bias"}) {
      CAPTURE(k);
      CHECK(identical(after[k], before.at(k)));  // not loaded: unchanged
    }
    for (const std::string k : {"conv.bias", "bn.weight", "bn.running_mean", "bn.running_var",
                                "bn.num_batches_tracked", "fc.weight"}) {
      CAPTURE(k);
      CHECK(identical(after[k], source->state_dict()[k]));  // loaded
      if (k != "bn.num_batches_tracked") CHECK_FALSE(identical(after[k], before.at(k)));
    }

    // Nothing in common: nothing loaded, everything reported, no error.
    SmallNet fresh = trained_net(8);
    const auto fresh_before = snapshot(*fresh);
    nn::LoadReport none = fresh->load_state_dict({{"x", ones({1})}}, false);
    CHECK(none.missing.size() == 9);
    CHECK(none.unexpected == std::vector<std::string>{"x"});
    CHECK(none.mismatched.empty());
    for (const auto& [k, t] : fresh->state_dict()) CHECK(identical(t, fresh_before.at(k)));
  }

  TEST_CASE("a damaged file is a CRC error and the model is left alone") {
    TempDir dir;
    const std::string path = dir.file("net.safetensors");
    SmallNet a = trained_net(9);
    nn::save(*a, path);
    Bytes bytes = read_bytes(path);
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    REQUIRE(8 + header_len + 100 < bytes.size());
    bytes[8 + header_len + 100] ^= 0x10;  // one bit of some weight
    write_bytes(path, bytes);

    SmallNet b = trained_net(10);
    const auto before = snapshot(*b);
    const std::string where = "load_safetensors(" + path + "): the data is damaged";
    CHECK_THROWS_WITH_AS(nn::load(*b, path), Contains(where.c_str()), Error);
    CHECK_THROWS_WITH_AS(nn::load(*b, path, false), Contains(where.c_str()), Error);
    for (const auto& [k, t] : b->state_dict()) CHECK(identical(t, before.at(k)));
  }

  TEST_CASE("hostile files are Errors naming the file, and the model is left alone") {
    // What a downloaded file can be: deeply nested JSON (once a stack overflow), a directory,
    // a device, a header edited after saving. Each is an Error that starts with the file.
    TempDir dir;
    SmallNet net = trained_net(11);
    const auto before = snapshot(*net);
    const std::string deep = dir.file("deep.safetensors");
    const std::string header =
        "{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":" + std::string(80000, '[') +
        std::string(80000, ']') + ",\"data_offsets\":[0,0]}}";
    Bytes file(8);
    const uint64_t n = header.size();
    std::memcpy(file.data(), &n, 8);
    file.insert(file.end(), header.begin(), header.end());
    write_bytes(deep, file);
    const std::string edited = dir.file("edited.safetensors");
    nn::save(*trained_net(12), edited, {{"note", "abc"}});
    Bytes e = read_bytes(edited);
    const std::string from = "\"note\":\"abc\"";
    const auto at = std::search(e.begin(), e.end(), from.begin(), from.end());
    REQUIRE(at != e.end());
    *(at + 8) = 'x';  // "note":"xbc"
    write_bytes(edited, e);
    const std::pair<std::string, std::string> cases[] = {
        {deep, "header nests JSON 80002 levels deep, the limit is 16"},
        {dir.path.string(), "not a regular file (a directory)"},
        {"/dev/zero", "not a regular file (a character device)"},
        {edited, "the header was changed after it was written"}};
    for (const auto& [path, what] : cases) {
      CAPTURE(path);
      for (bool strict : {true, false})
        CHECK_THROWS_WITH_AS(nn::load(*net, path, strict),
                             Contains(("load_safetensors(" + path + "): " + what).c_str()), Error);
    }
    for (const auto& [k, t] : net->state_dict()) CHECK(identical(t, before.at(k)));
  }

  TEST_CASE("a missing file is an error that names it") {
    TempDir dir;
    const std::string path = dir.file("nowhere.safetensors");
    SmallNet net;
    const std::string message = "load_safetensors: cannot open " + path;
    CHECK_THROWS_WITH_AS(nn::load(*net, path), Contains(message.c_str()), Error);
    CHECK_THROWS_WITH_AS(
        nn::save(*net, dir.file("no/such/dir/net.safetensors")),
        Contains(
            ("save_safetensors: cannot write " + dir.file("no/such/dir/net.safetensors")).c_str()),
        Error);
    CHECK(dir.entries().empty());
  }
}
