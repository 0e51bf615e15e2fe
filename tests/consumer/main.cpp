// Links against the installed library the way a user's program would (scripts/test.sh builds
// it by find_package and by pkg-config, against a static and a shared build): one gradient
// end to end, a layer, the functional API, an optimizer step and a custom op.
#include <glassbox/glassbox.h>
#include <glassbox/nn/linear.h>  // the per-topic headers are reachable too

#include <cmath>
#include <iostream>

namespace {
using namespace glassbox;

struct Square : autograd::Function<Square> {
  static Tensor forward(autograd::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return x * x;
  }
  static std::vector<Tensor> backward(autograd::AutogradContext* ctx, std::vector<Tensor> g) {
    return {g[0] * ctx->get_saved_variables()[0] * 2.0};
  }
};

int failures = 0;
void check(bool ok, const char* what) {
  std::cout << "consumer: " << what << (ok ? ": ok" : ": FAILED") << "\n";
  if (!ok) ++failures;
}
}  // namespace

int main() {
  Tensor x = tensor({1.f, 2.f, 3.f}).requires_grad_();
  sum(x * x).backward();
  check(x.grad().to_vector<float>() == std::vector<float>{2.f, 4.f, 6.f}, "d(sum x^2)/dx");

  Tensor y = tensor({1.f, 2.f, 3.f}).requires_grad_();
  sum(Square::apply(y)).backward();
  check(y.grad().to_vector<float>() == std::vector<float>{2.f, 4.f, 6.f}, "custom op backward");

  manual_seed(0);
  nn::Linear fc(4, 1);
  optim::SGD opt(fc->parameters(), optim::SGDOptions(0.1));
  Tensor img = arange(0.0, 16.0).view({1, 1, 4, 4}).to(kFloat32);
  Tensor feat = F::max_pool2d(img, 2).view({1, 4});  // [5, 7, 13, 15]
  check(feat.to_vector<float>() == std::vector<float>{5.f, 7.f, 13.f, 15.f}, "F::max_pool2d");
  auto loss_of = [&] { return F::mse_loss(fc(feat / 15.0), zeros({1, 1})); };
  const double before = loss_of().item();
  for (int i = 0; i < 20; ++i) {
    opt.zero_grad();
    loss_of().backward();
    opt.step();
  }
  check(loss_of().item() < before || before == 0.0, "SGD lowers a loss");
  std::cout << "consumer: CUDA available: " << (cuda::is_available() ? "yes" : "no") << "\n";
  return failures == 0 ? 0 : 1;
}
