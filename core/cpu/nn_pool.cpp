// 2-D max and average pooling on the CPU. The input is viewed as P independent planes
// [P, H, W] (P = N * C); planes are split across threads and each plane is walked window by
// window. Window geometry follows PyTorch exactly: a window starts at o * stride - padding,
// its taps are dilation apart, taps outside the input are skipped (max) or count as zeros
// (avg with count_include_pad).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/nn_kernels.h"
#include "core/cpu/simd.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

// v beats the running maximum: strictly greater keeps the first maximum; a NaN wins. For
// scalars (a truth value) and simd vectors alike (a lane mask). Bitwise operators, not && and
// ||, so the compiler emits selects instead of branches (which random activations mispredict
// half the time).
template <class V>
inline auto beats(V v, V best) {
  return (v > best) | ((v != v) & (best == best));
}

// The 2x2 window with stride 2 (the most common pooling there is) over planes [p0, p1): a
// vector of outputs at a time, taken in order across row and plane ends (MNIST's rows are
// only 12 and 4 outputs wide). Each lane's four window values go to four vectors, the rule
// runs lane by lane through masks, and the winner's place is kept as 0..3.
template <class T>
void max_pool_2x2(const T* src, T* dst, int64_t* idx, int64_t p0, int64_t p1, int64_t H, int64_t W,
                  int64_t oH, int64_t oW) {
  using namespace simd;
  constexpr int L = Simd<T>::kWidth;
  const int64_t end = p1 * oH * oW;
  int64_t plane = p0, oh = 0, ow = 0;  // the next output
  alignas(64) T v[4][L] = {};
  int64_t at[L];  // each lane's top-left input, within its plane
  for (int64_t o = p0 * oH * oW; o < end; o += L) {
    const int n = static_cast<int>(std::min<int64_t>(L, end - o));
    for (int l = 0; l < n; ++l) {
      at[l] = 2 * oh * W + 2 * ow;
      const T* x = src + plane * H * W + at[l];
      v[0][l] = x[0];
      v[1][l] = x[1];
      v[2][l] = x[W];
      v[3][l] = x[W + 1];
      if (++ow == oW) {
        ow = 0;
        if (++oh == oH) oh = 0, ++plane;
      }
    }
    Vec<T> best = load(v[0]);
    Mask<T> which = {};
    for (int k = 1; k < 4; ++k) {
      const Vec<T> c = load(v[k]);
      const Mask<T> t = beats(c, best);
      best = t ? c : best;
      which = t ? Mask<T>{} + k : which;
    }
    store(dst + o, best, n);
    for (int l = 0; l < n; ++l) idx[o + l] = at[l] + (which[l] & 1) + (which[l] >> 1) * W;
  }
}

// max_pool2d when every window lies inside the input: the same rules as the general loop
// below, without its bounds checks.
template <class T>
void max_pool2d_inside(const T* src, T* dst, int64_t* ip, int64_t P, int64_t H, int64_t W,
                       const Pool2d& p) {
  const int64_t oH = p.out[0], oW = p.out[1];
  const int64_t sh = p.stride[0], sw = p.stride[1], dh = p.dilation[0], dw = p.dilation[1];
  const bool two = p.kernel[0] == 2 && p.kernel[1] == 2 && sh == 2 && sw == 2 && dh == 1 && dw == 1;
  parallel_for(P, oH * oW * p.kernel[0] * p.kernel[1], [&](int64_t b, int64_t e) {
    if (two) return max_pool_2x2(src, dst, ip, b, e, H, W, oH, oW);
    for (int64_t plane = b; plane < e; ++plane) {
      const T* x = src + plane * H * W;
      T* y = dst + plane * oH * oW;
      int64_t* yi = ip + plane * oH * oW;
      for (int64_t oh = 0; oh < oH; ++oh) {
        for (int64_t ow = 0; ow < oW; ++ow) {
          const int64_t at0 = oh * sh * W + ow * sw;
          T best = x[at0];
          int64_t arg = at0;
          for (int64_t kh = 0; kh < p.kernel[0]; ++kh)
            for (int64_t kw = 0; kw < p.kernel[1]; ++kw) {
              const int64_t at = at0 + kh * dh * W + kw * dw;
              const bool t = beats(x[at], best);
              best = t ? x[at] : best;
              arg = t ? at : arg;
            }
          y[oh * oW + ow] = best;
          yi[oh * oW + ow] = arg;
        }
      }
    }
  });
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& input, const Pool2d& p) {
  Tensor in = input.contiguous();
  const int64_t P = in.size(0), H = in.size(1), W = in.size(2);
  const int64_t oH = p.out[0], oW = p.out[1];
  Tensor out = empty({P, oH, oW}, dtype(in.dtype()));
  Tensor idx = empty({P, oH, oW}, dtype(kInt64));
  int64_t* ip = idx.data_ptr<int64_t>();
  // Every window inside the input (no padding, the last window ends in bounds): no bounds
  // checks. 2x2 windows with stride 2 (the common case) are unrolled.
  const bool inside = p.padding[0] == 0 && p.padding[1] == 0 &&
                      (oH - 1) * p.stride[0] + (p.kernel[0] - 1) * p.dilation[0] < H &&
                      (oW - 1) * p.stride[1] + (p.kernel[1] - 1) * p.dilation[1] < W;
  GB_DISPATCH_FLOAT(in.dtype(), "max_pool2d", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    if (inside) return max_pool2d_inside(src, dst, ip, P, H, W, p);
    parallel_for(P, oH * oW * p.kernel[0] * p.kernel[1], [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const scalar_t* x = src + plane * H * W;
        scalar_t* y = dst + plane * oH * oW;
        int64_t* yi = ip + plane * oH * oW;
        for (int64_t oh = 0; oh < oH; ++oh) {
          const int64_t h0 = oh * p.stride[0] - p.padding[0];
          for (int64_t ow = 0; ow < oW; ++ow) {
            const int64_t w0 = ow * p.stride[1] - p.padding[1];
            scalar_t best = -std::numeric_limits<scalar_t>::infinity();
            int64_t arg = -1;
            for (int64_t kh = 0; kh < p.kernel[0]; ++kh) {
              const int64_t h = h0 + kh * p.dilation[0];
              if (h < 0 || h >= H) continue;
              for (int64_t kw = 0; kw < p.kernel[1]; ++kw) {
                const int64_t w = w0 + kw * p.dilation[1];
                if (w < 0 || w >= W) continue;
                const scalar_t v = x[h * W + w];
                // strictly greater keeps the first maximum; a NaN wins and propagates
                if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
                  best = v;
                  arg = h * W + w;
                }
              }
            }
            y[oh * oW + ow] = best;
            yi[oh * oW + ow] = arg;
          }
        }
      }
    });
  });
  return {out, idx};
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                           const Shape& input_shape) {
  Tensor g = grad_out.contiguous(), ix = indices.contiguous();
  const int64_t P = input_shape[0], plane_in = input_shape[1] * input_shape[2];
  const int64_t plane_out = g.size(1) * g.size(2);
  Tensor gi = zeros(input_shape, dtype(g.dtype()));
  const int64_t* ip = ix.data_ptr<int64_t>();
  GB_DISPATCH_FLOAT(g.dtype(), "max_pool2d backward", [&] {
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* dst = gi.data_ptr<scalar_t>();
    parallel_for(P, plane_out, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane)
        for (int64_t o = 0; o < plane_out; ++o) {
          const int64_t at = ip[plane * plane_out + o];
          if (at >= 0) dst[plane * plane_in + at] += gp[plane * plane_out + o];
        }
    });
  });
  return gi;
}

namespace {

// One average-pooling window, clipped to the input, with PyTorch's divisor.
struct AvgWindow {
  int64_t h0, h1, w0, w1;  // [h0, h1) x [w0, w1) inside the input
  double divisor;          // 0 when the window holds no input element
};

AvgWindow avg_window(const Pool2d& p, int64_t H, int64_t W, int64_t oh, int64_t ow) {
  int64_t h0 = oh * p.stride[0] - p.padding[0], w0 = ow * p.stride[1] - p.padding[1];
  int64_t h1 = std::min(h0 + p.kernel[0], H + p.padding[0]);
  int64_t w1 = std::min(w0 + p.kernel[1], W + p.padding[1]);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, H);
  w1 = std::min(w1, W);
  if (h0 >= h1 || w0 >= w1) return {h0, h0, w0, w0, 0.0};
  const int64_t inside = (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, double(p.count_include_pad ? padded_size : inside)};
}

}  // namespace

Tensor avg_pool2d(const Tensor& input, const Pool2d& p) {
  Tensor in = input.contiguous();
  const int64_t P = in.size(0), H = in.size(1), W = in.size(2);
  const int64_t oH = p.out[0], oW = p.out[1];
  Tensor out = empty({P, oH, oW}, dtype(in.dtype()));
  GB_DISPATCH_FLOAT(in.dtype(), "avg_pool2d", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    parallel_for(P, oH * oW * p.kernel[0] * p.kernel[1], [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const scalar_t* x = src + plane * H * W;
        scalar_t* y = dst + plane * oH * oW;
        for (int64_t oh = 0; oh < oH; ++oh)
          for (int64_t ow = 0; ow < oW; ++ow) {
            AvgWindow win = avg_window(p, H, W, oh, ow);
            double s = 0.0;
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) s += x[h * W + w];
            y[oh * oW + ow] = win.divisor > 0 ? scalar_t(s / win.divisor) : scalar_t(0);
          }
      }
    });
  });
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape, const Pool2d& p) {
  Tensor g = grad_out.contiguous();
  const int64_t P = input_shape[0], H = input_shape[1], W = input_shape[2];
  const int64_t oH = g.size(1), oW = g.size(2);
  Tensor gi = zeros(input_shape, dtype(g.dtype()));
  GB_DISPATCH_FLOAT(g.dtype(), "avg_pool2d backward", [&] {
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* dst = gi.data_ptr<scalar_t>();
    parallel_for(P, oH * oW * p.kernel[0] * p.kernel[1], [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        scalar_t* x = dst + plane * H * W;
        const scalar_t* y = gp + plane * oH * oW;
        for (int64_t oh = 0; oh < oH; ++oh)
          for (int64_t ow = 0; ow < oW; ++ow) {
            AvgWindow win = avg_window(p, H, W, oh, ow);
            if (win.divisor == 0) continue;
            const scalar_t share = scalar_t(double(y[oh * oW + ow]) / win.divisor);
            for (int64_t h = win.h0; h < win.h1; ++h)
              for (int64_t w = win.w0; w < win.w1; ++w) x[h * W + w] += share;
          }
      }
    });
  });
  return gi;
}

}  // namespace glassbox::cpu
