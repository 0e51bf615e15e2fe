// Links against the installed library and checks one gradient end to end.
#include <glassbox.h>

#include <iostream>

int main() {
  using namespace glassbox;
  Tensor x = tensor({1.f, 2.f, 3.f}).requires_grad_();
  Tensor loss = sum(x * x);
  loss.backward();
  std::cout << "consumer: d(sum x^2)/dx = " << x.grad() << "\n";
  return x.grad().to_vector<float>() == std::vector<float>{2.f, 4.f, 6.f} ? 0 : 1;
}
