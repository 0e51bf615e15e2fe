#include "net.h"

namespace glassbox::mnist {

MnistNetImpl::MnistNetImpl() {
  conv1 = register_module("conv1", nn::Conv2d(1, 3, 3));  // 1x28x28 -> 3x26x26
  conv2 = register_module("conv2", nn::Conv2d(3, 3, 3));  //         -> 3x24x24, pool -> 3x12x12
  conv3 = register_module("conv3", nn::Conv2d(3, 6, 3));  //         -> 6x10x10
  conv4 = register_module("conv4", nn::Conv2d(6, 6, 3));  //         -> 6x8x8,   pool -> 6x4x4
  pool = register_module("pool", nn::MaxPool2d(2));
  dropout = register_module("dropout", nn::Dropout(0.2));
  fc1 = register_module("fc1", nn::Linear(96, 30));
  fc2 = register_module("fc2", nn::Linear(30, 10));
  log_softmax = register_module("log_softmax", nn::LogSoftmax(1));
}

Tensor MnistNetImpl::forward(Tensor x) {
  x = relu(conv1(x));
  x = pool(relu(conv2(x)));
  x = relu(conv3(x));
  x = pool(relu(conv4(x)));
  x = dropout(x.flatten(1));  // 96 features
  x = dropout(relu(fc1(x)));
  return log_softmax(fc2(x));
}

}  // namespace glassbox::mnist
