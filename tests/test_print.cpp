// Printing follows PyTorch's torch/_tensor_str.py (precision 4, threshold 1000, edgeitems 3,
// linewidth 80) character for character, except that dtypes are named without "torch."
// and grad_fn names carry no version digit (MulBackward, not MulBackward0).
#include <doctest/doctest.h>

#include <limits>
#include <sstream>
#include <string>

#include "glassbox.h"

using namespace glassbox;

namespace {
std::string show(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
Tensor ivec(const std::vector<int64_t>& v, Shape shape = {}) { return from_vector(v, shape); }
}  // namespace

TEST_SUITE("print") {
  TEST_CASE("float tensors of whole numbers print with a trailing dot") {
    CHECK(show(tensor({{1.f, 2.f}, {3.f, 4.f}})) == "tensor([[1., 2.],\n        [3., 4.]])");
    CHECK(show(tensor({0.f, 0.f})) == "tensor([0., 0.])");
    CHECK(show(tensor({-1.f, 10.f, 100.f})) == "tensor([ -1.,  10., 100.])");
    // zeros do not widen the column: -0. keeps its sign and is not padded
    CHECK(show(tensor({-0.f, 1.f})) == "tensor([-0., 1.])");
    CHECK(show(tensor({100000000.f})) == "tensor([100000000.])");  // 1e8 itself is not > 1e8
  }

  TEST_CASE("fractions print with four decimals") {
    CHECK(show(tensor({0.5f, 1.25f})) == "tensor([0.5000, 1.2500])");
    CHECK(show(tensor({-1.5f, 2.25f})) == "tensor([-1.5000,  2.2500])");
    CHECK(show(tensor({0.1f, 0.12345f})) == "tensor([0.1000, 0.1235])");
    CHECK(show(tensor({{1.5f, -2.f}, {3.f, 4.f}})) ==
          "tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.0000]])");
  }

  TEST_CASE("integers and bools") {
    CHECK(show(ivec({1, 2, 3})) == "tensor([1, 2, 3])");
    CHECK(show(ivec({-1, 10, 100})) == "tensor([ -1,  10, 100])");
    CHECK(show(ivec({std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()})) ==
          "tensor([ 9223372036854775807, -9223372036854775808])");
    CHECK(show(from_vector<bool>({true, false})) == "tensor([ True, False])");
    CHECK(show(from_vector<bool>({true, true})) == "tensor([True, True])");
    CHECK(show(from_vector<bool>({false, true}, {2, 1})) == "tensor([[False],\n        [ True]])");
    CHECK(show(from_vector<uint8_t>({1, 255})) == "tensor([  1, 255], dtype=uint8)");
  }

  TEST_CASE("dtype, requires_grad and grad_fn suffixes") {
    CHECK(show(tensor({1.0, 2.0})) == "tensor([1., 2.], dtype=float64)");
    CHECK(show(tensor({0.5, 1.0})) == "tensor([0.5000, 1.0000], dtype=float64)");
    Tensor a = tensor({1.f, 2.f}).requires_grad_();
    CHECK(show(a) == "tensor([1., 2.], requires_grad=True)");
    CHECK(show(a * 2.0) == "tensor([2., 4.], grad_fn=<MulBackward>)");
    CHECK(show((a * a).sum()) == "tensor(5., grad_fn=<SumBackward>)");
    CHECK(show(a.detach()) == "tensor([1., 2.])");
    Tensor d = ones({2}, dtype(kFloat64)).requires_grad_();
    CHECK(show(d) == "tensor([1., 1.], dtype=float64, requires_grad=True)");
    {
      NoGradGuard ng;
      CHECK(show(a * 2.0) == "tensor([2., 4.])");
    }
  }

  TEST_CASE("0-d tensors") {
    CHECK(show(scalar_tensor(3.0)) == "tensor(3.)");
    CHECK(show(scalar_tensor(0.5)) == "tensor(0.5000)");
    CHECK(show(scalar_tensor(-2.0)) == "tensor(-2.)");
    CHECK(show(scalar_tensor(3.0, dtype(kInt64))) == "tensor(3)");
    CHECK(show(scalar_tensor(1.0, dtype(kBool))) == "tensor(True)");
    CHECK(show(scalar_tensor(0.0)) == "tensor(0.)");
    CHECK(show(scalar_tensor(kNaN)) == "tensor(nan)");
    CHECK(show(scalar_tensor(1e-5)) == "tensor(1.0000e-05)");
    CHECK(show(scalar_tensor(2.0, dtype(kFloat64))) == "tensor(2., dtype=float64)");
    CHECK(show(scalar_tensor(2.0, TensorOptions().set_requires_grad(true))) ==
          "tensor(2., requires_grad=True)");
  }

  TEST_CASE("3-D tensors separate matrices with a blank line") {
    CHECK(show(arange(8).view({2, 2, 2})) ==
          "tensor([[[0, 1],\n"
          "         [2, 3]],\n"
          "\n"
          "        [[4, 5],\n"
          "         [6, 7]]])");
    CHECK(show(arange(0.0, 4.0).view({2, 1, 1, 2})) ==
          "tensor([[[[0., 1.]]],\n"
          "\n"
          "\n"
          "        [[[2., 3.]]]])");
    // a non-contiguous view prints in logical order
    CHECK(show(arange(0.0, 6.0).view({2, 3}).t()) ==
          "tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]])");
  }

  TEST_CASE("more than 1000 elements are summarised with ...") {
    CHECK(show(arange(2000)) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
    CHECK(show(arange(0.0, 1001.0)) == "tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])");
    CHECK(show(arange(1100).view({100, 11})) ==
          "tensor([[   0,    1,    2,  ...,    8,    9,   10],\n"
          "        [  11,   12,   13,  ...,   19,   20,   21],\n"
          "        [  22,   23,   24,  ...,   30,   31,   32],\n"
          "        ...,\n"
          "        [1067, 1068, 1069,  ..., 1075, 1076, 1077],\n"
          "        [1078, 1079, 1080,  ..., 1086, 1087, 1088],\n"
          "        [1089, 1090, 1091,  ..., 1097, 1098, 1099]])");
    // the format comes from the shown values only: the hidden 1e6 does not force sci mode
    Tensor big = full({2000}, 1.0);
    big.narrow(0, 1000, 1).fill_(1e6);
    CHECK(show(big) == "tensor([1., 1., 1.,  ..., 1., 1., 1.])");
    // exactly 1000 elements are all shown
    std::string all = show(arange(1000));
    CHECK(all.find("...") == std::string::npos);
    CHECK(all.find(" 999])") != std::string::npos);
    // a dim of at most 6 is never cut, even in a summarised tensor
    std::string wide = show(zeros({6, 300}, dtype(kInt64)));
    CHECK(wide.find("        ...,\n") == std::string::npos);
    CHECK(wide.find("[0, 0, 0,  ..., 0, 0, 0]") != std::string::npos);
  }

  TEST_CASE("scientific notation for wide ranges, tiny and huge values") {
    CHECK(show(tensor({1.f, 10000.f})) == "tensor([1.0000e+00, 1.0000e+04])");
    CHECK(show(tensor({1.f, 1000.f})) == "tensor([   1., 1000.])");  // ratio 1000 is not > 1000
    CHECK(show(tensor({1e-5f, 1.f})) == "tensor([1.0000e-05, 1.0000e+00])");
    CHECK(show(tensor({-1e-5f, 1.f})) == "tensor([-1.0000e-05,  1.0000e+00])");
    CHECK(show(tensor({0.5f, 1000.5f})) == "tensor([5.0000e-01, 1.0005e+03])");
    CHECK(show(tensor({123456789.f})) == "tensor([1.2346e+08])");
    CHECK(show(tensor({0.f, 1e-5f})) == "tensor([0.0000e+00, 1.0000e-05])");
    CHECK(show(tensor({1e10, 1e-10})) == "tensor([1.0000e+10, 1.0000e-10], dtype=float64)");
    CHECK(show(tensor({1e100})) == "tensor([1.0000e+100], dtype=float64)");
  }

  TEST_CASE("nan and inf") {
    CHECK(show(tensor({1.f, kNaN})) == "tensor([1., nan])");
    CHECK(show(tensor({kNaN})) == "tensor([nan])");
    CHECK(show(tensor({1.5f, kInf, -kInf})) == "tensor([1.5000,    inf,   -inf])");
    CHECK(show(tensor({kInf, -kInf, 0.f})) == "tensor([inf, -inf, 0.])");
    CHECK(show(tensor({1e-5f, kNaN})) == "tensor([1.0000e-05,        nan])");
  }

  TEST_CASE("long rows wrap at 80 columns") {
    CHECK(show(arange(0.0, 20.0)) ==
          "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
          "        14., 15., 16., 17., 18., 19.])");
    CHECK(show(full({2, 10}, 0.5)) ==
          "tensor([[0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000,\n"
          "         0.5000],\n"
          "        [0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000,\n"
          "         0.5000]])");
    // a suffix that would pass column 80 moves to its own line
    CHECK(show(arange(0.0, 14.0, 1.0, dtype(kFloat64))) ==
          "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.],\n"
          "       dtype=float64)");
    CHECK(show(arange(0.0, 10.0, 1.0, dtype(kFloat64))) ==
          "tensor([0., 1., 2., 3., 4., 5., 6., 7., 8., 9.], dtype=float64)");
  }

  TEST_CASE("empty tensors") {
    CHECK(show(zeros({0})) == "tensor([])");
    CHECK(show(zeros({0, 3})) == "tensor([], size=(0, 3))");
    CHECK(show(zeros({0}, dtype(kInt64))) == "tensor([], dtype=int64)");
    CHECK(show(zeros({2, 0}, dtype(kBool))) == "tensor([], size=(2, 0), dtype=bool)");
    CHECK(show(zeros({0}, TensorOptions().set_requires_grad(true))) ==
          "tensor([], requires_grad=True)");
  }

  TEST_CASE("to_string and undefined tensors") {
    Tensor t = tensor({1.f, 2.5f});
    CHECK(to_string(t) == show(t));
    CHECK(to_string(t) == "tensor([1.0000, 2.5000])");
    CHECK(to_string(Tensor()) == "tensor(undefined)");
    // printing records nothing and leaves the tensor as it was
    Tensor a = tensor({1.f}).requires_grad_();
    Tensor b = a * 3.0;
    show(b);
    CHECK(b.grad_fn_name() == "MulBackward");
    CHECK(b.to_vector<float>() == std::vector<float>{3.f});
  }
}
