// Op-level benchmarks: one JSON line per case on stdout. Usage: bench_ops [--threads N]
// Each case is warmed up once, then timed over enough repetitions to fill ~0.3 s; the
// median repetition is reported.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "glassbox.h"

using namespace glassbox;

namespace {

double median_ms(const std::function<void()>& fn) {
  fn();  // warm-up: first-touch allocation, thread team start
  std::vector<double> times;
  double total = 0;
  while (total < 300.0 || times.size() < 5) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    times.push_back(ms);
    total += ms;
    if (times.size() >= 1000) break;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

void report(const std::string& name, const std::string& device, double ms, double work,
            const char* unit) {
  std::cout << "{\"case\":\"" << name << "\",\"device\":\"" << device
            << "\",\"threads\":" << get_num_threads() << ",\"ms\":" << ms << ",\"" << unit
            << "\":" << work / (ms * 1e-3) << "}" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) set_num_threads(std::atoi(argv[++i]));
  manual_seed(0);
  NoGradGuard no_record;

  {
    Tensor a = randn({1 << 22}), b = randn({1 << 22});
    double ms = median_ms([&] { Tensor c = a + b; });
    report("add_4M_f32", "cpu", ms, 3.0 * 4 * (1 << 22), "bytes_per_s");
  }
  {
    Tensor a = randn({1000, 1000}), b = randn({1000});
    double ms = median_ms([&] { Tensor c = a * b; });
    report("mul_broadcast_1000x1000", "cpu", ms, 3.0 * 4 * 1e6, "bytes_per_s");
  }
  {
    // scalar on the left vs on the right: the same work, once a broadcast of operand 1
    Tensor a = randn({1 << 22});
    double right = median_ms([&] { Tensor c = a * 0.5; });
    report("mul_tensor_scalar_4M_f32", "cpu", right, 2.0 * 4 * (1 << 22), "bytes_per_s");
    double left = median_ms([&] { Tensor c = 0.5 * a; });
    report("mul_scalar_tensor_4M_f32", "cpu", left, 2.0 * 4 * (1 << 22), "bytes_per_s");
  }
  {
    // transcendentals and activations on 301,000 floats (a 7x43x1000 activation map), one
    // thread so the figure is the kernel's own, then all threads
    Tensor a = randn({301000});
    const int threads = get_num_threads();
    for (int t : {1, threads}) {
      set_num_threads(t);
      const std::string sfx = t == 1 ? "_1t" : "";
      auto run = [&](const std::string& name, const std::function<Tensor()>& f) {
        report(name + "_301k_f32" + sfx, "cpu", median_ms([&] { Tensor c = f(); }), 301000,
               "elements_per_s");
      };
      run("tanh", [&] { return tanh(a); });
      run("exp", [&] { return exp(a); });
      run("sigmoid", [&] { return sigmoid(a); });
      run("gelu", [&] { return F::gelu(a); });
      run("gelu_tanh", [&] { return F::gelu(a, "tanh"); });
      run("silu", [&] { return F::silu(a); });
      run("mish", [&] { return F::mish(a); });
      run("softplus", [&] { return F::softplus(a); });
      run("elu", [&] { return F::elu(a); });
    }
    set_num_threads(threads);
  }
  {
    Tensor a = randn({1 << 24});
    double ms = median_ms([&] { Tensor s = sum(a); });
    report("sum_16M_f32", "cpu", ms, 4.0 * (1 << 24), "bytes_per_s");
  }
  {
    Tensor a = randn({1000, 784});
    double ms = median_ms([&] { Tensor s = sum(a, {0}); });
    report("sum_dim0_1000x784", "cpu", ms, 4.0 * 784000, "bytes_per_s");
  }
  for (int64_t n : {128, 512, 1024}) {
    Tensor a = randn({n, n}), b = randn({n, n});
    double ms = median_ms([&] { Tensor c = matmul(a, b); });
    report("matmul_" + std::to_string(n), "cpu", ms, 2.0 * n * n * n, "flop_per_s");
  }
  {
    // forward + backward + update of a 784-128-10 MLP at batch 256
    set_grad_enabled(true);
    Tensor x = randn({256, 784});
    Tensor y = from_vector(std::vector<int64_t>(256, 3));
    Tensor w1 = (randn({784, 128}) * 0.05).requires_grad_(),
           w2 = (randn({128, 10}) * 0.05).requires_grad_();
    double ms = median_ms([&] {
      Tensor logits = matmul(relu(matmul(x, w1)), w2);
      Tensor logp = logits - log(sum(exp(logits), {1}, true));
      Tensor loss = -mean(gather(logp, 1, y.unsqueeze(1)));
      w1.zero_grad();
      w2.zero_grad();
      loss.backward();
      NoGradGuard ng;
      w1.sub_(w1.grad(), 0.1);
      w2.sub_(w2.grad(), 0.1);
    });
    report("mlp_train_step_784_128_10_b256", "cpu", ms, 256, "samples_per_s");
    set_grad_enabled(false);
  }
  if (cuda::is_available()) {
    Tensor h = randn({1 << 24});
    double up = median_ms([&] {
      Tensor d = h.to(kCUDA);
      cuda::synchronize(0);
    });
    report("copy_host_to_device_64MB", "cuda:0", up, 4.0 * (1 << 24), "bytes_per_s");
    Tensor d = h.to(kCUDA);
    double down = median_ms([&] { Tensor b = d.cpu(); });
    report("copy_device_to_host_64MB", "cuda:0", down, 4.0 * (1 << 24), "bytes_per_s");
  } else {
    std::cerr << "bench_ops: no CUDA device, GPU cases skipped\n";
  }
}
