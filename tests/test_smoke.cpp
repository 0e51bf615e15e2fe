#include <doctest/doctest.h>
#include <iostream>
#include "glassbox.h"
using namespace glassbox;
TEST_CASE("smoke") {
  Tensor a = tensor({{1.f, 2.f}, {3.f, 4.f}}).requires_grad_();
  Tensor b = (a * a).sum();
  b.backward();
  std::cout << a << "\n" << a.grad() << "\n" << b << "\n";
}
