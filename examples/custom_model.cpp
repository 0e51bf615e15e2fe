// Writing a model with glassbox reads like PyTorch: declare the layers, register them in the
// constructor, write forward. This is the notebook's CNN for 28x28 digits, trained for a few
// steps on synthetic data with plain SGD steps (p -= lr * grad), printing the model and the loss.
#include <iostream>

#include "glassbox.h"

using namespace glassbox;

struct NetImpl : nn::Module {
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};
  nn::MaxPool2d pool{nullptr};
  nn::Dropout dropout{nullptr};
  nn::Linear fc1{nullptr}, fc2{nullptr};
  nn::LogSoftmax log_softmax{nullptr};

  NetImpl() {
    conv1 = register_module("conv1", nn::Conv2d(1, 3, 3));  // 1x28x28 -> 3x26x26
    conv2 = register_module("conv2", nn::Conv2d(3, 3, 3));  //         -> 3x24x24
    conv3 = register_module("conv3", nn::Conv2d(3, 6, 3));  // pool 12 -> 6x10x10
    conv4 = register_module("conv4", nn::Conv2d(6, 6, 3));  //         -> 6x8x8
    pool = register_module("pool", nn::MaxPool2d(2));       // pool 4  -> 6x4x4 = 96
    dropout = register_module("dropout", nn::Dropout(0.2));
    fc1 = register_module("fc1", nn::Linear(96, 30));
    fc2 = register_module("fc2", nn::Linear(30, 10));
    log_softmax = register_module("log_softmax", nn::LogSoftmax(1));
  }

  Tensor forward(Tensor x) {
    x = relu(conv1(x));
    x = pool(relu(conv2(x)));
    x = relu(conv3(x));
    x = pool(relu(conv4(x)));
    x = dropout(x.flatten(1));
    x = dropout(relu(fc1(x)));
    return log_softmax(fc2(x));
  }
};
GB_MODULE(Net);  // Net: a shared handle to a NetImpl, like TORCH_MODULE

int main() {
  manual_seed(0);
  Net net;
  std::cout << *net << "\n";
  int64_t count = 0;
  for (const auto& [name, p] : net->named_parameters()) {
    std::cout << "  " << name << " " << p.shape_str() << "\n";
    count += p.numel();
  }
  std::cout << count << " parameters\n\n";

  // a learnable toy task: noisy images with a bright patch whose position is the label
  const int64_t n = 64;
  Tensor images = randn({n, 1, 28, 28}) * 0.5;
  std::vector<int64_t> label_values;
  {
    NoGradGuard no_grad;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = i % 10, row = 2 + (label / 5) * 14, col = 2 + (label % 5) * 5;
      images.select(0, i).narrow(1, row, 8).narrow(2, col, 5).add_(2.0);
      label_values.push_back(label);
    }
  }
  Tensor labels = from_vector(label_values);

  const double lr = 0.1;
  for (int step = 0; step <= 200; ++step) {
    net->train();
    Tensor loss = F::nll_loss(net(images), labels);
    net->zero_grad();
    loss.backward();
    {
      NoGradGuard no_grad;  // the update is not part of the model
      for (Tensor& p : net->parameters()) p.sub_(p.grad(), lr);
    }
    if (step % 40 == 0) {
      net->eval();
      NoGradGuard no_grad;
      double accuracy = sum(argmax(net(images), 1) == labels).item() / double(n);
      std::cout << "step " << step << "  loss " << loss.item() << "  train accuracy " << accuracy
                << "\n";
    }
  }
}
