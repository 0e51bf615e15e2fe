// ModuleList and ModuleDict (naming, indexing, errors, printing), Module::clone (deep and
// independent copies of layers, containers and user models, the generator left alone, errors
// for types it cannot rebuild) and Module::apply.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;
using doctest::Contains;

namespace {

std::vector<std::string> keys_of(const nn::OrderedDict<Tensor>& d) { return d.keys(); }

bool same_state(const nn::Module& a, const nn::Module& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  if (sa.keys() != sb.keys()) return false;
  for (size_t i = 0; i < sa.size(); ++i) {
    const Tensor &x = sa[i].second, &y = sb[i].second;
    if (x.shape() != y.shape() || x.dtype() != y.dtype() || x.is_same(y)) return false;
    if (!allclose(x.to(kFloat64), y.to(kFloat64), 0, 0)) return false;
  }
  return true;
}

struct NetImpl : nn::Module {
  nn::Sequential features{nullptr};
  nn::Linear head{nullptr};
  nn::ModuleList extras;
  NetImpl() {
    features = register_module("features",
                               nn::Sequential(nn::Conv2d(1, 2, 3), nn::BatchNorm2d(2), nn::ReLU()));
    head = register_module("head", nn::Linear(8, 3));
    register_module("extras", extras);
  }
  Tensor forward(const Tensor& x) {
    Tensor y = head(features(x).reshape({x.size(0), -1}));
    for (const auto& m : *extras) y = std::dynamic_pointer_cast<nn::LinearImpl>(m)->forward(y);
    return y;
  }
};
GB_MODULE(Net);

// a constructor argument clone() cannot know: needs new_instance()
struct WideImpl : nn::Module {
  explicit WideImpl(int64_t width) : width(width) {
    fc = register_module("fc", nn::Linear(2, width));
  }
  int64_t width;
  nn::Linear fc{nullptr};
};
GB_MODULE(Wide);

struct WideClonableImpl : WideImpl {
  using WideImpl::WideImpl;
  std::shared_ptr<nn::Module> new_instance() const override {
    return std::make_shared<WideClonableImpl>(width);
  }
};
GB_MODULE(WideClonable);

}  // namespace

TEST_SUITE("containers") {
  TEST_CASE("ModuleList: positions, names, iteration, extend") {
    nn::ModuleList list(nn::Linear(2, 3), nn::ReLU(), nn::Linear(3, 1));
    CHECK(list->size() == 3);
    CHECK(keys_of(list->named_parameters()) ==
          std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
    CHECK(list[1]->name() == "ReLU");
    CHECK(list->ptr<nn::LinearImpl>(2)->options.in_features() == 3);
    CHECK_THROWS_WITH_AS(list->ptr<nn::LinearImpl>(1), Contains("module 1 (ReLU) is not"), Error);
    CHECK_THROWS_WITH_AS(list[3], Contains("ModuleList: index 3 out of range for 3 modules"),
                         Error);
    int n = 0;
    for (const auto& m : *list) n += m != nullptr;
    CHECK(n == 3);
    nn::ModuleList more;
    more->push_back(nn::Linear(1, 1));
    more->extend(*list);
    more->extend(std::vector<nn::Linear>{nn::Linear(4, 4)});
    CHECK(more->size() == 5);
    CHECK(more->named_children().keys() == std::vector<std::string>{"0", "1", "2", "3", "4"});
    CHECK(more[1].get() == list[0].get());  // extend shares, as in PyTorch
    CHECK(list->to_string() ==
          "ModuleList(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
          "  (1): ReLU()\n  (2): Linear(in_features=3, out_features=1, bias=True)\n)");
    CHECK(nn::ModuleList()->to_string() == "ModuleList()");
  }

  TEST_CASE("ModuleDict: ordered keys, lookup, errors") {
    nn::ModuleDict heads({{"cls", nn::Linear(4, 10).ptr()}, {"box", nn::Linear(4, 4).ptr()}});
    heads->insert("act", nn::ReLU());
    CHECK(heads->keys() == std::vector<std::string>{"cls", "box", "act"});
    CHECK(heads->contains("box"));
    CHECK_FALSE(heads->contains("seg"));
    CHECK(heads->size() == 3);
    CHECK(heads["act"]->name() == "ReLU");
    CHECK(heads->get<nn::LinearImpl>("cls")->options.out_features() == 10);
    CHECK(keys_of(heads->named_parameters()) ==
          std::vector<std::string>{"cls.weight", "cls.bias", "box.weight", "box.bias"});
    CHECK_THROWS_WITH_AS(heads["seg"],
                         Contains("ModuleDict: no module under 'seg' (it has 'cls', 'box', 'act')"),
                         Error);
    CHECK_THROWS_WITH_AS(heads->insert("box", nn::ReLU()),
                         Contains("ModuleDict: already holds a module under 'box'"), Error);
    CHECK_THROWS_WITH_AS(heads->insert("a.b", nn::ReLU()), Contains("must not contain '.'"), Error);
    std::vector<std::string> seen;
    for (const auto& [k, m] : *heads) seen.push_back(k + ":" + m->name());
    CHECK(seen == std::vector<std::string>{"cls:Linear", "box:Linear", "act:ReLU"});
  }

  TEST_CASE("clone of a layer is deep and independent") {
    nn::Linear fc(3, 2);
    auto copy = std::dynamic_pointer_cast<nn::LinearImpl>(fc->clone());
    REQUIRE(copy != nullptr);
    CHECK(same_state(*fc, *copy));
    CHECK(copy->weight.requires_grad());
    CHECK(copy->options.in_features() == 3);
    // the handle and the registered parameter are one tensor in the copy too
    CHECK(copy->weight.is_same(copy->named_parameters()["weight"]));
    Tensor before = fc->weight.detach().clone();
    {
      NoGradGuard g;
      copy->weight.add_(1.0);
    }
    CHECK(allclose(fc->weight, before, 0, 0));
    // gradients go to the copy's own leaves
    copy->forward(ones({1, 3})).sum().backward();
    CHECK(copy->weight.grad().defined());
    CHECK_FALSE(fc->weight.grad().defined());
    // conversions and frozen parameters carry over
    nn::Linear nb(nn::LinearOptions(2, 2).bias(false));
    nb->to(kFloat64);
    nb->weight.requires_grad_(false);
    nb->eval();
    auto c2 = std::dynamic_pointer_cast<nn::LinearImpl>(nb->clone());
    CHECK(c2->weight.dtype() == kFloat64);
    CHECK_FALSE(c2->weight.requires_grad());
    CHECK_FALSE(c2->bias.defined());
    CHECK_FALSE(c2->is_training());
  }

  TEST_CASE("clone of a user model with Sequential, BatchNorm buffers and a ModuleList") {
    Net net;
    net->extras->push_back(nn::Linear(3, 3));  // added after construction: cloned in
    net->train();
    net(randn({2, 1, 4, 4}));  // moves the running statistics away from their init
    net->eval();
    auto copy = std::dynamic_pointer_cast<NetImpl>(net->clone());
    REQUIRE(copy != nullptr);
    CHECK(same_state(*net, *copy));
    CHECK(copy->state_dict().keys() == net->state_dict().keys());
    CHECK(copy->to_string() == net->to_string());
    CHECK_FALSE(copy->is_training());
    CHECK_FALSE(copy->features->ptr(1)->is_training());
    CHECK(copy->extras->size() == 1);
    Tensor x = randn({2, 1, 4, 4});
    CHECK(allclose(copy->forward(x), net->forward(x), 0, 0));
    // independence, through the copy's own member handles
    {
      NoGradGuard g;
      copy->head->bias.fill_(7.0);
      copy->features->ptr<nn::BatchNorm2dImpl>(1)->running_mean.fill_(3.0);
    }
    CHECK_FALSE(allclose(net->head->bias, copy->head->bias));
    CHECK_FALSE(same_state(*net, *copy));
    // the copy's Sequential runs its own children
    Tensor y0 = net->forward(x), y1 = copy->forward(x);
    CHECK_FALSE(allclose(y0, y1));
  }

  TEST_CASE("clone leaves the default generator alone") {
    manual_seed(5);
    nn::Linear fc(4, 4);
    Tensor expected = randn({3});
    manual_seed(5);
    nn::Linear fc2(4, 4);
    auto c = fc2->clone();
    CHECK(allclose(randn({3}), expected, 0, 0));
  }

  TEST_CASE("clone of containers keeps their order and forwards") {
    nn::Sequential seq(nn::Linear(2, 3), nn::Tanh());
    seq->push_back("out", nn::Linear(3, 1));
    auto sc = std::dynamic_pointer_cast<nn::SequentialImpl>(seq->clone());
    REQUIRE(sc != nullptr);
    CHECK(sc->size() == 3);
    CHECK(sc->named_children().keys() == std::vector<std::string>{"0", "1", "out"});
    Tensor x = randn({4, 2});
    CHECK(allclose(sc->forward(x), seq->forward(x), 0, 0));
    CHECK(sc->ptr(0).get() != seq->ptr(0).get());

    nn::ModuleDict d({{"a", nn::Linear(2, 2).ptr()}});
    auto dc = std::dynamic_pointer_cast<nn::ModuleDictImpl>(d->clone());
    CHECK(dc->keys() == std::vector<std::string>{"a"});
    CHECK(same_state(*d, *dc));
    CHECK(dc->at("a").get() != d["a"].get());
  }

  TEST_CASE("clone of a type it cannot rebuild says what to do") {
    Wide w(5);
    CHECK_THROWS_WITH_AS(w->clone(), Contains("Wide: clone() cannot build a new Wide"), Error);
    CHECK_THROWS_WITH_AS(w->clone(), Contains("new_instance() (see nn/module.h)"), Error);
    WideClonable wc(5);
    auto c = std::dynamic_pointer_cast<WideClonableImpl>(wc->clone());
    REQUIRE(c != nullptr);
    CHECK(c->fc->options.out_features() == 5);
    CHECK(same_state(*wc, *c));
  }

  TEST_CASE("apply visits the module, then every descendant, pre-order") {
    Net net;
    std::vector<std::string> names;
    net->apply([&](nn::Module& m) { names.push_back(m.name()); });
    CHECK(names == std::vector<std::string>{"Net", "Sequential", "Conv2d", "BatchNorm2d", "ReLU",
                                            "Linear", "ModuleList"});
    net->apply([](nn::Module& m) {
      if (auto* fc = dynamic_cast<nn::LinearImpl*>(&m)) nn::init::zeros_(fc->bias);
    });
    CHECK(allclose(net->head->bias, zeros({3})));
  }
}
