// Printing in PyTorch's style: tensor([[1., 2.],
//                                      [3., 4.]], dtype=float64, requires_grad=True)
// Floats share one format per tensor: whole numbers print as "2.", others with 4 decimals,
// and a wide range of magnitudes switches to scientific notation. Over 1000 elements,
// only the first and last three entries of each dim are shown, joined by "...". Rows wrap
// at 80 columns. Unlike PyTorch, dtypes print without the "torch." prefix.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/ops.h"

namespace glassbox {
namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int kLineWidth = 80;

struct Format {
  enum Kind { Int, WholeFloat, Fixed, Sci, Bool } kind = Fixed;
  int width = 1;
};

// One shown element: floats as double, integers and bools exactly as int64 (a double would
// round int64 values above 2^53).
struct Value {
  double f = 0.0;
  int64_t i = 0;
};

Value read(const Tensor& e) {
  Value v;
  if (is_floating(e.dtype()))
    v.f = e.item<double>();
  else
    v.i = e.item<int64_t>();
  return v;
}

std::string format_one(const Value& v, const Format& f) {
  char buf[64];
  switch (f.kind) {
    case Format::Bool:
      return v.i != 0 ? "True" : "False";
    case Format::Int:
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v.i));
      return buf;
    default:
      break;
  }
  if (std::isnan(v.f)) return "nan";
  if (std::isinf(v.f)) return v.f > 0 ? "inf" : "-inf";
  if (f.kind == Format::WholeFloat)
    std::snprintf(buf, sizeof buf, "%.0f.", v.f);
  else if (f.kind == Format::Fixed)
    std::snprintf(buf, sizeof buf, "%.4f", v.f);
  else
    std::snprintf(buf, sizeof buf, "%.4e", v.f);
  return buf;
}

// Right-aligns to the common width; longer strings (nan, inf, zeros) are left as they are.
std::string padded(const Value& v, const Format& f) {
  std::string s = format_one(v, f);
  return std::string(std::max<int>(0, f.width - static_cast<int>(s.size())), ' ') + s;
}

// PyTorch's _Formatter: for floats only the non-zero finite values decide the format and
// the width; whole numbers print as "2.", a max/min ratio above 1000 or a max above 1e8
// (or, for fractions, a min below 1e-4) switches to scientific notation.
Format choose_format(const std::vector<Value>& vals, DType dt) {
  Format f;
  if (!is_floating(dt)) {
    f.kind = dt == kBool ? Format::Bool : Format::Int;
    for (const Value& v : vals) f.width = std::max<int>(f.width, format_one(v, f).size());
    return f;
  }
  std::vector<double> nz;
  for (const Value& v : vals)
    if (std::isfinite(v.f) && v.f != 0.0) nz.push_back(v.f);
  f.kind = Format::WholeFloat;
  if (nz.empty()) return f;
  bool whole = true;
  double lo = INFINITY, hi = 0;
  for (double v : nz) {
    if (v != std::ceil(v)) whole = false;
    lo = std::min(lo, std::abs(v));
    hi = std::max(hi, std::abs(v));
  }
  if (hi / lo > 1000.0 || hi > 1e8 || (!whole && lo < 1e-4))
    f.kind = Format::Sci;
  else
    f.kind = whole ? Format::WholeFloat : Format::Fixed;
  for (double v : nz) f.width = std::max<int>(f.width, format_one(Value{v, 0}, f).size());
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

void collect(const Tensor& t, bool summarize, std::vector<Value>& out) {
  if (t.dim() == 0) {
    out.push_back(read(t));
    return;
  }
  for (int64_t i : shown(t.size(0), summarize))
    if (i >= 0) collect(t.select(0, i), summarize, out);
}

void render(std::ostream& os, const Tensor& t, const Format& f, bool summarize, int indent) {
  if (t.dim() == 0) {
    os << padded(read(t), f);
    return;
  }
  auto idx = shown(t.size(0), summarize);
  if (t.dim() == 1) {
    // as many elements per line as fit in 80 columns; " ..." marks the skipped middle
    const int per_line = std::max(1, (kLineWidth - indent) / (f.width + 2));
    os << '[';
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0)
        os << (k % per_line == 0 ? ",\n" + std::string(indent + 1, ' ') : std::string(", "));
      if (idx[k] < 0)
        os << " ...";
      else
        os << padded(read(t.select(0, idx[k])), f);
    }
    os << ']';
    return;
  }
  os << '[';
  for (size_t k = 0; k < idx.size(); ++k) {
    if (k > 0) os << ',' << std::string(t.dim() - 1, '\n') << std::string(indent + 1, ' ');
    if (idx[k] < 0)
      os << "...";
    else
      render(os, t.select(0, idx[k]), f, summarize, indent + 1);
  }
  os << ']';
}

std::string tuple_str(const Shape& s) {  // Python's tuple repr: (0, 3), (0,)
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  NoGradGuard no_record;
  Tensor c = t.detach().cpu();
  constexpr int kIndent = 7;  // "tensor("
  std::ostringstream body;
  body << "tensor(";
  std::vector<std::string> suffixes;
  if (t.device().is_cuda()) suffixes.push_back("device='" + t.device().str() + "'");
  if (c.numel() == 0) {
    // nothing to infer the dtype from, so anything but the default float32 is named
    body << "[]";
    if (c.dim() != 1) suffixes.push_back("size=" + tuple_str(c.shape()));
    if (c.dtype() != kFloat32) suffixes.push_back(std::string("dtype=") + dtype_name(c.dtype()));
  } else {
    const bool summarize = c.numel() > kSummarizeAbove;
    std::vector<Value> vals;
    collect(c, summarize, vals);
    render(body, c, choose_format(vals, c.dtype()), summarize, kIndent);
    if (c.dtype() != kFloat32 && c.dtype() != kInt64 && c.dtype() != kBool)
      suffixes.push_back(std::string("dtype=") + dtype_name(c.dtype()));
  }
  if (!t.grad_fn_name().empty())
    suffixes.push_back("grad_fn=<" + t.grad_fn_name() + ">");
  else if (t.requires_grad())
    suffixes.push_back("requires_grad=True");
  // PyTorch's _add_suffixes: a suffix that would pass 80 columns starts a new line
  std::string s = body.str();
  const size_t nl = s.rfind('\n');
  int64_t last_line = static_cast<int64_t>(s.size()) + 1 -
                      (nl == std::string::npos ? -1 : static_cast<int64_t>(nl));
  for (const std::string& suffix : suffixes) {
    const int64_t len = static_cast<int64_t>(suffix.size());
    if (last_line + len + 2 > kLineWidth) {
      s += ",\n" + std::string(kIndent, ' ') + suffix;
      last_line = kIndent + len;
    } else {
      s += ", " + suffix;
      last_line += len + 2;
    }
  }
  return os << s << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

}  // namespace glassbox
