// The notebook's CNN, exactly: four 3x3 convolutions (no padding) with two 2x2 max-pools,
// then two linear layers with dropout 0.2, log-softmax over 10 classes. 1x28x28 in.
// Parameter names match the PyTorch original (conv1.weight, ..., fc2.bias).
#pragma once

#include "glassbox.h"

namespace glassbox::mnist {

struct MnistNetImpl : nn::Module {
  MnistNetImpl();
  Tensor forward(Tensor x);  // [B,1,28,28] -> log-probabilities [B,10]

  nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};
  nn::MaxPool2d pool{nullptr};
  nn::Dropout dropout{nullptr};
  nn::Linear fc1{nullptr}, fc2{nullptr};
  nn::LogSoftmax log_softmax{nullptr};
};
GB_MODULE(MnistNet);

}  // namespace glassbox::mnist
