// nn::Module and the layers: registration and PyTorch's dotted names, train/eval, printing
// like PyTorch's repr, PyTorch's default initialisation, Sequential, a notebook-sized CNN
// end to end, and errors that name the module and the shapes.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

// The notebook's CNN for 28x28 digits.
struct NetImpl : nn::Module {
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};
  nn::MaxPool2d pool{nullptr};
  nn::Dropout dropout{nullptr};
  nn::Linear fc1{nullptr}, fc2{nullptr};
  nn::LogSoftmax log_softmax{nullptr};

  NetImpl() {
    conv1 = register_module("conv1", nn::Conv2d(1, 3, 3));
    conv2 = register_module("conv2", nn::Conv2d(3, 3, 3));
    conv3 = register_module("conv3", nn::Conv2d(3, 6, 3));
    conv4 = register_module("conv4", nn::Conv2d(6, 6, 3));
    pool = register_module("pool", nn::MaxPool2d(2));
    dropout = register_module("dropout", nn::Dropout(0.2));
    fc1 = register_module("fc1", nn::Linear(96, 30));
    fc2 = register_module("fc2", nn::Linear(30, 10));
    log_softmax = register_module("log_softmax", nn::LogSoftmax(1));
  }

  Tensor forward(const Tensor& input) {
    Tensor x = relu(conv1(input));
    x = pool(relu(conv2(x)));
    x = relu(conv3(x));
    x = pool(relu(conv4(x)));
    x = dropout(x.flatten(1));
    x = dropout(relu(fc1(x)));
    return log_softmax(fc2(x));
  }
};
GB_MODULE(Net);

// A module with its own parameters, a buffer and nested children.
struct BlockImpl : nn::Module {
  Tensor scale, count;
  nn::Sequential features{nullptr};
  nn::Linear head{nullptr};
  BlockImpl() {
    scale = register_parameter("scale", ones({3}));
    count = register_buffer("count", zeros({1}));
    features = register_module(
        "features", nn::Sequential(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 3), nn::Tanh()));
    head = register_module("head", nn::Linear(nn::LinearOptions(3, 2).bias(false)));
  }
  Tensor forward(const Tensor& x) { return head(features(x) * scale); }
};
GB_MODULE(Block);

std::string repr(const nn::Module& m) { return m.to_string(); }

int64_t count_params(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

double max_abs(const Tensor& t) { return max(abs(t)).item(); }

}  // namespace

TEST_SUITE("modules") {
  // ------------------------------------------------------------------ registration
  TEST_CASE("named_parameters: PyTorch's dotted names, in registration order") {
    Block block;
    std::vector<std::string> expected = {"scale",           "features.0.weight",
                                         "features.0.bias", "features.2.weight",
                                         "features.2.bias", "head.weight"};
    CHECK(block->named_parameters().keys() == expected);
    CHECK(block->parameters().size() == 6);
    CHECK(block->parameters(false).size() == 1);
    CHECK(block->named_parameters(false).keys() == std::vector<std::string>{"scale"});
    CHECK(count_params(*block) == 3 + (4 * 3 + 3) + (3 * 3 + 3) + 3 * 2);
    CHECK(block->named_buffers().keys() == std::vector<std::string>{"count"});
    CHECK(block->named_children().keys() == std::vector<std::string>{"features", "head"});
    CHECK(block->children().size() == 2);
    CHECK(block->named_modules().keys() == std::vector<std::string>{"features", "features.0",
                                                                    "features.1", "features.2",
                                                                    "features.3", "head"});
    // lookup by name, and the same tensor the layer holds
    CHECK(block->named_parameters()["head.weight"].is_same(block->head->weight));
    CHECK(block->named_parameters()["features.0.weight"].shape() == Shape{3, 4});
    CHECK_THROWS_WITH_AS(block->named_parameters()["head.bias"],
                         Contains("no entry named 'head.bias'"), Error);
    for (const Tensor& p : block->parameters()) CHECK(p.requires_grad());
    for (const Tensor& b : block->buffers()) CHECK_FALSE(b.requires_grad());
  }

  TEST_CASE("register_*: the caller's handle is the parameter; bad names are errors") {
    struct M : nn::Module {
      M() : nn::Module("M") {}
    };
    M m;
    Tensor w = zeros({2});
    Tensor stored = m.register_parameter("w", w);
    CHECK(stored.is_same(w));  // a leaf keeps its identity: w.grad() will be filled
    CHECK(w.requires_grad());
    Tensor frozen = m.register_parameter("frozen", ones({2}), false);
    CHECK_FALSE(frozen.requires_grad());
    CHECK(m.named_parameters().keys() == std::vector<std::string>{"w", "frozen"});
    CHECK_THROWS_WITH_AS(m.register_parameter("w", zeros({1})),
                         Contains("register_parameter: M already has a parameter named 'w'"),
                         Error);
    CHECK_THROWS_WITH_AS(m.register_buffer("w", zeros({1})), Contains("already has a parameter"),
                         Error);
    CHECK_THROWS_WITH_AS(m.register_parameter("a.b", zeros({1})), Contains("must not contain '.'"),
                         Error);
    CHECK_THROWS_WITH_AS(m.register_parameter("", zeros({1})), Contains("must not be empty"),
                         Error);
    CHECK_THROWS_WITH_AS(m.register_module("w", nn::ReLU()),
                         Contains("register_module: M already has a parameter named 'w'"), Error);
    CHECK_THROWS_WITH_AS(m.register_module("null", nn::Linear(nullptr)), Contains("is null"),
                         Error);
    CHECK_THROWS_WITH_AS(m.register_parameter("i", zeros({2}, dtype(kInt64))),
                         Contains("only floating-point parameters can require grad"), Error);
  }

  TEST_CASE("module names come from the class: NetImpl prints as Net") {
    Net net;
    CHECK(net->name() == "Net");
    CHECK(nn::Linear(2, 3)->name() == "Linear");
    CHECK(nn::Sequential()->name() == "Sequential");
  }

  TEST_CASE("a shared parameter is listed once") {
    nn::Sequential seq;
    nn::Linear l(3, 3);
    seq->push_back(l);
    seq->push_back(nn::Tanh());
    seq->push_back(l);
    CHECK(seq->named_parameters().keys() == std::vector<std::string>{"0.weight", "0.bias"});
    CHECK(seq->state_dict().size() == 4);  // state_dict keeps both names, like PyTorch
  }

  // ------------------------------------------------------------------ modes and grads
  TEST_CASE("train / eval propagate to every descendant") {
    Block block;
    CHECK(block->is_training());
    block->eval();
    int visited = 0;
    block->apply([&](nn::Module& m) {
      CHECK_FALSE(m.is_training());
      ++visited;
    });
    CHECK(visited == 7);  // block, features, its 4 layers, head
    block->train();
    CHECK(block->features->ptr(1)->is_training());
    block->features->train(false);
    CHECK(block->is_training());
    CHECK_FALSE(block->features->ptr<nn::LinearImpl>(0)->is_training());
  }

  TEST_CASE("zero_grad zeroes every parameter's gradient in place, or drops it") {
    Block block;
    block(ones({2, 4})).sum().backward();
    for (const Tensor& p : block->parameters()) REQUIRE(p.grad().defined());
    Tensor g = block->head->weight.grad();
    block->zero_grad();
    CHECK(block->head->weight.grad().is_same(g));
    for (const Tensor& p : block->parameters()) CHECK(max_abs(p.grad()) == 0.0);
    block->zero_grad(/*set_to_none=*/true);
    for (const Tensor& p : block->parameters()) CHECK_FALSE(p.grad().defined());
  }

  // ------------------------------------------------------------------ printing
  TEST_CASE("printing matches PyTorch's repr") {
    Net net;
    std::ostringstream os;
    os << *net;
    CHECK(os.str() ==
          "Net(\n"
          "  (conv1): Conv2d(1, 3, kernel_size=(3, 3), stride=(1, 1))\n"
          "  (conv2): Conv2d(3, 3, kernel_size=(3, 3), stride=(1, 1))\n"
          "  (conv3): Conv2d(3, 6, kernel_size=(3, 3), stride=(1, 1))\n"
          "  (conv4): Conv2d(6, 6, kernel_size=(3, 3), stride=(1, 1))\n"
          "  (pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
          "  (dropout): Dropout(p=0.2, inplace=False)\n"
          "  (fc1): Linear(in_features=96, out_features=30, bias=True)\n"
          "  (fc2): Linear(in_features=30, out_features=10, bias=True)\n"
          "  (log_softmax): LogSoftmax(dim=1)\n"
          ")");
    std::ostringstream holder;
    holder << net;  // a handle prints its module
    CHECK(holder.str() == os.str());

    Block block;
    CHECK(repr(*block) ==
          "Block(\n"
          "  (features): Sequential(\n"
          "    (0): Linear(in_features=4, out_features=3, bias=True)\n"
          "    (1): ReLU()\n"
          "    (2): Linear(in_features=3, out_features=3, bias=True)\n"
          "    (3): Tanh()\n"
          "  )\n"
          "  (head): Linear(in_features=3, out_features=2, bias=False)\n"
          ")");
  }

  TEST_CASE("printing: every layer's options, as PyTorch spells them") {
    using namespace nn;
    CHECK(repr(*Conv2d(Conv2dOptions(1, 10, 3).stride(2).padding(1))) ==
          "Conv2d(1, 10, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))");
    CHECK(repr(*Conv2d(
              Conv2dOptions(4, 8, {3, 5}).padding("same").dilation(2).groups(2).bias(false))) ==
          "Conv2d(4, 8, kernel_size=(3, 5), stride=(1, 1), padding=same, dilation=(2, 2), "
          "groups=2, bias=False)");
    CHECK(repr(*Conv2d(Conv2dOptions(1, 1, 2).padding(kValid))) ==
          "Conv2d(1, 1, kernel_size=(2, 2), stride=(1, 1), padding=valid)");
    CHECK(repr(*Conv2d(Conv2dOptions(1, 1, 3).padding({0, 1}))) ==
          "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=(0, 1))");
    CHECK(repr(*ConvTranspose2d(
              ConvTranspose2dOptions(3, 6, 3).stride(2).padding(1).output_padding(1))) ==
          "ConvTranspose2d(3, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
          "output_padding=(1, 1))");
    CHECK(repr(*MaxPool2d(MaxPool2dOptions({2, 3}).stride(1).ceil_mode(true))) ==
          "MaxPool2d(kernel_size=(2, 3), stride=1, padding=0, dilation=1, ceil_mode=True)");
    CHECK(repr(*AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)");
    CHECK(repr(*ReLU()) == "ReLU()");
    CHECK(repr(*Dropout()) == "Dropout(p=0.5, inplace=False)");
    CHECK(repr(*Softmax(-1)) == "Softmax(dim=-1)");
    CHECK(repr(*Flatten()) == "Flatten(start_dim=1, end_dim=-1)");
    CHECK(repr(*NLLLoss()) == "NLLLoss()");
    CHECK(repr(*CrossEntropyLoss()) == "CrossEntropyLoss()");
    CHECK(repr(*MSELoss()) == "MSELoss()");
    CHECK(repr(*BatchNorm2d(6)) ==
          "BatchNorm2d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
    CHECK(
        repr(*BatchNorm2d(BatchNorm2dOptions(2).eps(1e-3).momentum(std::nullopt).affine(false))) ==
        "BatchNorm2d(2, eps=0.001, momentum=None, affine=False, track_running_stats=True)");
    CHECK(repr(*Sequential()) == "Sequential()");
  }

  // ------------------------------------------------------------------ initialisation
  TEST_CASE("default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like PyTorch") {
    manual_seed(0);
    auto check_bound = [](const Tensor& t, int64_t fan_in) {
      const double b = 1.0 / std::sqrt(double(fan_in));
      CAPTURE(t.shape_str());
      CHECK(max_abs(t) <= b * (1 + 1e-6));
      CHECK(max_abs(t) > 0.8 * b);  // actually spread over the range
      if (t.numel() >= 500)         // the variance of U(-b, b) is b^2 / 3
        CHECK(mean(t * t).item() == doctest::Approx(b * b / 3).epsilon(0.15));
    };
    nn::Linear fc(96, 30);
    check_bound(fc->weight, 96);
    check_bound(fc->bias, 96);
    nn::Conv2d conv(nn::Conv2dOptions(4, 32, 3).groups(2));
    CHECK(conv->weight.shape() == Shape{32, 2, 3, 3});
    check_bound(conv->weight, 2 * 9);
    check_bound(conv->bias, 2 * 9);
    // ConvTranspose2d: weight [in, out/groups, kH, kW], fan_in from weight.size(1) * kH * kW
    nn::ConvTranspose2d convt(nn::ConvTranspose2dOptions(8, 60, 3).groups(2));
    CHECK(convt->weight.shape() == Shape{8, 30, 3, 3});
    check_bound(convt->weight, 30 * 9);
    check_bound(convt->bias, 30 * 9);
    nn::BatchNorm2d bn(5);
    CHECK(equal(bn->weight, ones({5})));
    CHECK(equal(bn->bias, zeros({5})));
    CHECK(equal(bn->running_mean, zeros({5})));
    CHECK(equal(bn->running_var, ones({5})));
    CHECK(bn->num_batches_tracked.item<int64_t>() == 0);
  }

  TEST_CASE("default init is reproducible with manual_seed") {
    manual_seed(123);
    Net a;
    manual_seed(123);
    Net b;
    Net c;  // the stream has moved on
    auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
    REQUIRE(pa.size() == pb.size());
    bool any_differs = false;
    for (size_t i = 0; i < pa.size(); ++i) {
      CHECK(equal(pa[i], pb[i]));
      any_differs |= !equal(pa[i], pc[i]);
    }
    CHECK(any_differs);
  }

  // ------------------------------------------------------------------ Sequential
  TEST_CASE("Sequential: construction, push_back, names and forward") {
    manual_seed(1);
    nn::Sequential seq(nn::Linear(4, 8), nn::ReLU());
    seq->push_back(nn::Linear(8, 2));
    seq->push_back("softmax", nn::LogSoftmax(1));
    CHECK(seq->size() == 4);
    CHECK(seq->named_children().keys() == std::vector<std::string>{"0", "1", "2", "softmax"});
    CHECK(seq->named_parameters().keys() ==
          std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
    Tensor x = randn({5, 4});
    auto l0 = seq->ptr<nn::LinearImpl>(0), l2 = seq->ptr<nn::LinearImpl>(2);
    Tensor manual = F::log_softmax(
        F::linear(relu(F::linear(x, l0->weight, l0->bias)), l2->weight, l2->bias), 1);
    CHECK(allclose(seq(x), manual));
    CHECK(seq[1]->name() == "ReLU");
    CHECK(seq->ptr(1).get() == seq[1].get());
    CHECK_THROWS_WITH_AS(seq->ptr<nn::LinearImpl>(1), Contains("module 1 (ReLU) is not"), Error);
    CHECK_THROWS_WITH_AS(seq->ptr(4), Contains("index 4 out of range for 4 modules"), Error);
    // shared_ptr modules go in too, and user modules with forward(Tensor)
    nn::Sequential outer;
    outer->push_back(std::make_shared<nn::FlattenImpl>());
    outer->push_back(seq);
    CHECK(outer(randn({5, 2, 2})).shape() == Shape{5, 2});
    CHECK(outer->named_parameters().keys()[0] == "1.0.weight");
    CHECK_THROWS_WITH_AS(nn::Sequential()->forward(x), Contains("empty Sequential"), Error);
  }

  TEST_CASE("module handles share their module; an empty one is an error to use") {
    nn::Linear a(2, 2);
    nn::Linear b = a;
    CHECK(b.ptr() == a.ptr());
    nn::Linear none{nullptr};
    CHECK(none.is_empty());
    CHECK_THROWS_WITH_AS(none->forward(zeros({1, 2})), Contains("empty module handle"), Error);
    none = a;
    CHECK(none(ones({1, 2})).shape() == Shape{1, 2});
  }

  // ------------------------------------------------------------------ the notebook's CNN
  TEST_CASE("the notebook's Net: [8,1,28,28] -> [8,10] and backward reaches every parameter") {
    manual_seed(0);
    Net net;
    CHECK(net->parameters().size() == 12);
    CHECK(count_params(*net) == 30 + 84 + 168 + 330 + 2910 + 310);
    Tensor x = randn({8, 1, 28, 28});
    Tensor y = net(x);
    CHECK(y.shape() == Shape{8, 10});
    // rows are log-probabilities
    Tensor row_sums = sum(exp(y), {1});
    CHECK(allclose(row_sums, ones({8}), 1e-5, 1e-5));
    Tensor target = from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7});
    Tensor loss = nn::NLLLoss()(y, target);
    loss.backward();
    for (const auto& [name, p] : net->named_parameters()) {
      CAPTURE(name);
      REQUIRE(p.grad().defined());
      CHECK(p.grad().shape() == p.shape());
      CHECK(max_abs(p.grad()) > 0.0);
    }
    // eval: dropout off, so the forward is deterministic
    net->eval();
    NoGradGuard no_grad;
    CHECK(equal(net(x), net(x)));
  }

  TEST_CASE("a few SGD steps lower the loss") {
    manual_seed(3);
    Net net;
    Tensor x = randn({16, 1, 28, 28});
    Tensor target = from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5});
    net->eval();  // no dropout noise: the loss must go down
    double first = 0, last = 0;
    for (int step = 0; step < 8; ++step) {
      Tensor loss = F::nll_loss(net(x), target);
      net->zero_grad();
      loss.backward();
      NoGradGuard no_grad;
      for (Tensor& p : net->parameters()) p.sub_(p.grad(), 0.1);
      (step == 0 ? first : last) = loss.item();
    }
    CHECK(last < first);
  }

  // ------------------------------------------------------------------ layers
  TEST_CASE("Conv2d: padding same (asymmetric for even kernels), valid, and the functional") {
    manual_seed(2);
    Tensor x = randn({2, 2, 7, 6});
    for (int64_t k : {3, 4}) {
      for (int64_t d : {1, 2}) {
        CAPTURE(k);
        CAPTURE(d);
        nn::Conv2d conv(nn::Conv2dOptions(2, 3, k).padding("same").dilation(d));
        Tensor y = conv(x);
        CHECK(y.shape() == Shape{2, 3, 7, 6});
        // PyTorch: total = d*(k-1); top/left get total/2, the extra goes bottom/right
        const int64_t total = d * (k - 1), lo = total / 2, hi = total - lo;
        Tensor padded = zeros({2, 2, 7 + total, 6 + total});
        {
          NoGradGuard ng;
          padded.narrow(2, lo, 7).narrow(3, lo, 6).copy_(x);
        }
        (void)hi;
        F::ConvParams p;
        p.set_dilation(d);
        CHECK(allclose(y, F::conv2d(padded, conv->weight, conv->bias, p), 1e-4, 1e-5));
        auto cp = conv->params();
        CHECK(cp.padding == std::array<int64_t, 4>{lo, hi, lo, hi});
      }
    }
    nn::Conv2d valid(nn::Conv2dOptions(2, 3, 3).padding(nn::kValid).stride(2));
    CHECK(valid(x).shape() == Shape{2, 3, 3, 2});
    nn::Conv2d strided(nn::Conv2dOptions(2, 4, 3).stride({2, 1}).padding({1, 0}).groups(2));
    CHECK(strided(x).shape() == Shape{2, 4, 4, 4});
    CHECK(allclose(strided(x), F::conv2d(x, strided->weight, strided->bias, strided->params())));
    // unbatched input
    CHECK(strided(x.select(0, 1)).shape() == Shape{4, 4, 4});
    // a forced algorithm reaches the functional call
    nn::Conv2d direct(nn::Conv2dOptions(2, 3, 3).algo(nn::ConvAlgo::Direct));
    CHECK(direct->params().algo == nn::ConvAlgo::Direct);
    CHECK(nn::Conv2d(nn::Conv2dOptions(2, 3, 3).bias(false))->parameters().size() == 1);
  }

  TEST_CASE("ConvTranspose2d: output size with output_padding, matches the functional") {
    manual_seed(4);
    nn::ConvTranspose2d up(
        nn::ConvTranspose2dOptions(4, 2, 3).stride(2).padding(1).output_padding(1));
    Tensor x = randn({2, 4, 5, 5});
    Tensor y = up(x);
    CHECK(y.shape() == Shape{2, 2, 10, 10});  // (5-1)*2 - 2 + 3 + 1
    CHECK(allclose(y, F::conv_transpose2d(x, up->weight, up->bias, up->params())));
    y.sum().backward();
    CHECK(up->weight.grad().shape() == up->weight.shape());
  }

  TEST_CASE("pooling, activations, flatten and losses agree with the functionals") {
    manual_seed(5);
    Tensor x = randn({2, 3, 6, 6});
    CHECK(equal(nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true))(x),
                F::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true)));
    CHECK(equal(nn::AvgPool2d(nn::AvgPool2dOptions(2).count_include_pad(false).padding(1))(x),
                F::avg_pool2d(x, {2, 2}, {2, 2}, {1, 1}, false, false)));
    CHECK(equal(nn::ReLU()(x), relu(x)));
    CHECK(equal(nn::Softmax(1)(x), F::softmax(x, 1)));
    CHECK(nn::Flatten()(x).shape() == Shape{2, 108});
    CHECK(nn::Flatten(nn::FlattenOptions().start_dim(0).end_dim(1))(x).shape() == Shape{6, 6, 6});
    Tensor logits = randn({4, 5});
    Tensor t = from_vector<int64_t>({1, 0, 4, -100});
    CHECK(equal(nn::CrossEntropyLoss()(logits, t), F::cross_entropy(logits, t)));
    Tensor t4 = from_vector<int64_t>({1, 0, 4, 4});
    CHECK(equal(nn::NLLLoss(nn::NLLLossOptions().ignore_index(4))(logits, t4),
                F::nll_loss(logits, t4, F::Reduction::Mean, 4)));
    CHECK(equal(nn::CrossEntropyLoss(nn::kNone)(logits, t4),
                F::cross_entropy(logits, t4, F::Reduction::None)));
    Tensor a = randn({3, 2}), b = randn({3, 2});
    CHECK(equal(nn::MSELoss(nn::kSum)(a, b), F::mse_loss(a, b, F::Reduction::Sum)));
  }

  TEST_CASE("Dropout: active in training, the identity in eval, seeded") {
    nn::Dropout drop(0.5);
    Tensor x = ones({1000});
    manual_seed(11);
    Tensor a = drop(x);
    manual_seed(11);
    CHECK(equal(drop(x), a));
    CHECK(sum(a == 0.0).item() > 400);
    drop->eval();
    CHECK(equal(drop(x), x));
    CHECK_THROWS_WITH_AS(nn::Dropout(1.5),
                         Contains("Dropout: probability has to be between 0 and 1"), Error);
  }

  TEST_CASE("BatchNorm2d: running statistics, eval, momentum None, no tracking") {
    manual_seed(6);
    nn::BatchNorm2d bn(3);
    CHECK(bn->named_parameters().keys() == std::vector<std::string>{"weight", "bias"});
    CHECK(bn->named_buffers().keys() ==
          std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
    Tensor x = randn({4, 3, 5, 5}) * 2.0 + 1.0;
    Tensor y = bn(x);
    // per channel: mean 0, (biased) variance 1
    CHECK(allclose(mean(y, {0, 2, 3}), zeros({3}), 1e-4, 1e-4));
    CHECK(allclose(mean(y * y, {0, 2, 3}), ones({3}), 1e-3, 1e-3));
    CHECK(bn->num_batches_tracked.item<int64_t>() == 1);
    Tensor m = mean(x, {0, 2, 3});
    CHECK(allclose(bn->running_mean, m * 0.1, 1e-4, 1e-5));
    bn->eval();
    Tensor ye = bn(x);
    Tensor expect =
        (x - bn->running_mean.view({1, 3, 1, 1})) / sqrt(bn->running_var.view({1, 3, 1, 1}) + 1e-5);
    CHECK(allclose(ye, expect, 1e-4, 1e-5));
    CHECK(bn->num_batches_tracked.item<int64_t>() == 1);  // eval does not count

    // momentum None: the running mean is the plain average of the batch means
    nn::BatchNorm2d avg(nn::BatchNorm2dOptions(3).momentum(std::nullopt));
    Tensor x2 = randn({4, 3, 2, 2}) + 3.0;
    avg(x);
    avg(x2);
    CHECK(
        allclose(avg->running_mean, (mean(x, {0, 2, 3}) + mean(x2, {0, 2, 3})) / 2.0, 1e-4, 1e-5));

    nn::BatchNorm2d plain(nn::BatchNorm2dOptions(3).affine(false).track_running_stats(false));
    CHECK(plain->parameters().empty());
    CHECK(plain->buffers().empty());
    plain->eval();  // without running stats, eval still normalises with the batch's
    CHECK(allclose(mean(plain(x), {0, 2, 3}), zeros({3}), 1e-4, 1e-4));
  }

  TEST_CASE("gradcheck through a small float64 model") {
    manual_seed(8);
    nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(2, 3, 3).padding(1)), nn::BatchNorm2d(3),
                         nn::Tanh(), nn::AvgPool2d(2), nn::Flatten(), nn::Linear(12, 2),
                         nn::LogSoftmax(1));
    model->to(kFloat64);
    for (const Tensor& p : model->parameters()) CHECK(p.dtype() == kFloat64);
    CHECK(model->named_buffers()["1.num_batches_tracked"].dtype() == kInt64);
    Tensor x = randn({2, 2, 4, 4}, dtype(kFloat64)).requires_grad_();
    GradcheckResult r = gradcheck([&](const std::vector<Tensor>& v) { return model(v[0]); }, {x});
    INFO(r.message);
    CHECK(r.ok);
  }

  TEST_CASE("state_dict and load_state_dict round-trip") {
    manual_seed(9);
    Net a;
    Net b;
    TensorMap state;
    for (const auto& [k, v] : a->state_dict()) state[k] = v;
    CHECK(a->state_dict().keys().front() == "conv1.weight");
    b->load_state_dict(state);
    for (size_t i = 0; i < a->parameters().size(); ++i)
      CHECK(equal(a->parameters()[i], b->parameters()[i]));
    state.erase("fc2.bias");
    state["extra"] = zeros({1});
    CHECK_THROWS_WITH_AS(b->load_state_dict(state),
                         Contains("missing: 'fc2.bias'\n  unexpected: 'extra'"), Error);
    state.erase("extra");
    state["fc1.bias"] = zeros({31});
    const nn::LoadReport report = b->load_state_dict(state, false);  // loads the rest
    CHECK(report.missing == std::vector<std::string>{"fc2.bias"});
    REQUIRE(report.mismatched.size() == 1);
    CHECK(report.mismatched[0].find("fc1.bias") != std::string::npos);
  }

  // ------------------------------------------------------------------ errors
  TEST_CASE("errors name the module and the shapes") {
    Net net;
    CHECK_THROWS_WITH_AS(net(zeros({8, 3, 28, 28})),
                         Contains("Conv2d(1, 3, kernel_size=(3, 3), stride=(1, 1)): expected input "
                                  "with 1 channels ([N, 1, H, W]), got [8,3,28,28]"),
                         Error);
    CHECK_THROWS_WITH_AS(net(zeros({8, 28})), Contains("expected a 4-D input [N, 1, H, W]"), Error);
    // a 32x32 input flattens to 150 features, not 96
    CHECK_THROWS_WITH_AS(
        net(zeros({2, 1, 32, 32})),
        Contains("Linear(in_features=96, out_features=30, bias=True): expected an input "
                 "[..., 96], got [2,150]"),
        Error);
    nn::Sequential seq(nn::Linear(4, 3), nn::Linear(4, 2));
    CHECK_THROWS_WITH_AS(seq(zeros({1, 4})),
                         Contains("Sequential (1): Linear(in_features=4, out_features=2, "
                                  "bias=True): expected an input [..., 4], got [1,3]"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::BatchNorm2d(3)(zeros({2, 4, 2, 2})),
                         Contains("BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, "
                                  "track_running_stats=True): expected input with 3 channels"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::MaxPool2d(3)(zeros({1, 1, 2, 2})),
                         Contains("MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1, "
                                  "ceil_mode=False): max_pool2d: input [1,1,2,2] is too small"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::CrossEntropyLoss()(zeros({2, 3}), tensor({0, 5})),
                         Contains("CrossEntropyLoss(): cross_entropy: target value 5"), Error);
    CHECK_THROWS_WITH_AS(nn::Conv2d(nn::Conv2dOptions(2, 2, 3).padding("same").stride(2)),
                         Contains("padding='same' is not supported for strided convolutions"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).groups(2)),
                         Contains("Conv2d: in_channels 3 must be divisible by groups 2"), Error);
    CHECK_THROWS_WITH_AS(nn::Conv2d(nn::Conv2dOptions(2, 4, 3).padding("full")),
                         Contains("padding must be a number, a pair, \"same\" or \"valid\""),
                         Error);
    CHECK_THROWS_WITH_AS(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(2, 2, 3).output_padding(1)),
                         Contains("output_padding must be smaller than either stride or dilation"),
                         Error);
    CHECK_THROWS_WITH_AS(nn::Conv2d(nn::Conv2dOptions(2, 2, {3, 3, 3})),
                         Contains("expected 2 values"), Error);
  }
}
