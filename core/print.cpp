// Printing in PyTorch's style: tensor([[1., 2.],
//                                      [3., 4.]], dtype=float64, requires_grad=True)
// Floats share one format per tensor: whole numbers print as "2.", others with 4 decimals,
// and a wide range of magnitudes switches to scientific notation. Over 1000 elements,
// only the first and last three entries of each dim are shown, joined by "...".
#include <cmath>
#include <cstdio>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace glassbox {
namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Format {
  enum Kind { Int, WholeFloat, Fixed, Sci, Bool } kind = Fixed;
  int width = 1;
};

std::string format_one(double v, const Format& f) {
  char buf[64];
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  switch (f.kind) {
    case Format::Bool:
      return v != 0 ? "True" : "False";
    case Format::Int:
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
      break;
    case Format::WholeFloat:
      std::snprintf(buf, sizeof buf, "%.0f.", v);
      break;
    case Format::Fixed:
      std::snprintf(buf, sizeof buf, "%.4f", v);
      break;
    case Format::Sci:
      std::snprintf(buf, sizeof buf, "%.4e", v);
      break;
  }
  return buf;
}

Format choose_format(const std::vector<double>& vals, DType dt) {
  Format f;
  if (dt == kBool)
    f.kind = Format::Bool;
  else if (!is_floating(dt))
    f.kind = Format::Int;
  else {
    bool whole = true;
    double lo = INFINITY, hi = 0;
    for (double v : vals) {
      if (!std::isfinite(v)) continue;
      if (v != std::floor(v)) whole = false;
      double a = std::abs(v);
      if (a > 0) lo = std::min(lo, a);
      hi = std::max(hi, a);
    }
    if (whole)
      f.kind = hi >= 1e8 ? Format::Sci : Format::WholeFloat;
    else
      f.kind =
          (hi / lo > 1000.0 || hi >= 1e8 || (lo < 1e-4 && lo > 0)) ? Format::Sci : Format::Fixed;
  }
  for (double v : vals) f.width = std::max<int>(f.width, format_one(v, f).size());
  return f;
}

// The indices of dim of size n that are shown.
std::vector<int64_t> shown(int64_t n, bool summarize) {
  std::vector<int64_t> idx;
  if (!summarize || n <= 2 * kEdgeItems) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);  // the "..." marker
    for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

void collect(const Tensor& t, bool summarize, std::vector<double>& out) {
  if (t.dim() == 0) {
    out.push_back(t.item<double>());
    return;
  }
  for (int64_t i : shown(t.size(0), summarize))
    if (i >= 0) collect(t.select(0, i), summarize, out);
}

void render(std::ostream& os, const Tensor& t, const Format& f, bool summarize, int indent) {
  if (t.dim() == 0) {
    std::string s = format_one(t.item<double>(), f);
    os << std::string(f.width - s.size(), ' ') << s;
    return;
  }
  os << '[';
  auto idx = shown(t.size(0), summarize);
  for (size_t k = 0; k < idx.size(); ++k) {
    if (k > 0) {
      os << ',';
      if (t.dim() == 1)
        os << ' ';
      else
        os << std::string(t.dim() - 1, '\n') << std::string(indent + 1, ' ');
    }
    if (idx[k] < 0)
      os << "...";
    else
      render(os, t.select(0, idx[k]), f, summarize, indent + 1);
  }
  os << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  NoGradGuard no_record;
  Tensor c = t.detach().cpu();
  const bool summarize = c.numel() > kSummarizeAbove;
  std::vector<double> vals;
  collect(c, summarize, vals);
  Format f = choose_format(vals, c.dtype());
  os << "tensor(";
  if (c.numel() == 0 && c.dim() > 0)
    os << "[]";
  else
    render(os, c, f, summarize, 7);
  bool default_dtype = c.dtype() == kFloat32 || c.dtype() == kInt64 || c.dtype() == kBool;
  if (c.numel() == 0 && c.dim() > 0) os << ", size=" << shape_str(c.shape());
  if (!default_dtype) os << ", dtype=" << dtype_name(c.dtype());
  if (t.device().is_cuda()) os << ", device='" << t.device().str() << "'";
  if (!t.grad_fn_name().empty())
    os << ", grad_fn=<" << t.grad_fn_name() << ">";
  else if (t.requires_grad())
    os << ", requires_grad=True";
  return os << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace glassbox
