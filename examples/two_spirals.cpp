// The README's example: a 2-layer MLP learns two interleaved spirals with plain gradient
// steps. Only the public API is used.
#include <cmath>
#include <iostream>

#include "glassbox.h"

using namespace glassbox;

int main() {
  manual_seed(0);
  // 400 points on two spirals, labels 0 and 1
  std::vector<float> pts;
  std::vector<int64_t> labels;
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 200; ++i) {
      double t = 0.25 + 3 * M_PI * i / 200.0, r = t / (3 * M_PI), a = t + M_PI * k;
      pts.insert(pts.end(), {float(r * std::cos(a)), float(r * std::sin(a))});
      labels.push_back(k);
    }
  Tensor x = from_vector(pts, {400, 2}), y = from_vector(labels);

  Tensor w1 = uniform({2, 128}, -4, 4).requires_grad_(),
         b1 = uniform({128}, -1, 1).requires_grad_();
  Tensor w2 = uniform({128, 2}, -0.1, 0.1).requires_grad_(), b2 = zeros({2}).requires_grad_();
  auto model = [&](const Tensor& in) { return matmul(tanh(matmul(in, w1) + b1), w2) + b2; };

  for (int step = 0; step <= 1500; ++step) {
    Tensor logits = model(x);
    Tensor logp = logits - log(sum(exp(logits), {1}, true));  // log-softmax
    Tensor loss = -mean(gather(logp, 1, y.unsqueeze(1)));     // NLL
    for (Tensor p : {w1, b1, w2, b2}) p.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor p : {w1, b1, w2, b2}) p.sub_(p.grad(), 0.5);  // p -= 0.5 * dloss/dp
    if (step % 300 == 0) {
      double acc = sum(argmax(model(x), 1) == y).item() / 400.0;
      std::cout << "step " << step << "  loss " << loss.item() << "  accuracy " << acc << "\n";
    }
  }
}
