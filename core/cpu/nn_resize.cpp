// Adaptive pooling and upsampling on the CPU, the reference for the CUDA bodies. The input is
// P independent planes [P, H, W], split across threads by plane.
//
// Adaptive pooling: output (oh, ow) pools the bin [bin_start(oh), bin_end(oh)) x [...) of
// core/resize_index.h; the average divides by the bin's element count. Upsampling separates
// per dim: output row oh reads source rows i0, i1 with weights l0, l1 (column likewise), so
//   out[oh, ow] = sum over a in {0,1}, b in {0,1} of lh_a * lw_b * x[ih_a, iw_b]
// (nearest is the case l0 = 1, l1 = 0). Both backward passes scatter: each output gradient
// goes, with the forward's weights, to the input elements it read, outputs in increasing
// order, so the sums are the same on every run.
#include <cmath>
#include <vector>

#include "core/cpu/nn_kernels.h"
#include "core/parallel.h"
#include "core/resize_index.h"

namespace glassbox::cpu {
namespace {

// the per-dim sources of an upsampling, computed once per call
template <class T>
std::vector<resize::Source<T>> sources(int64_t in, int64_t out, const Resize2d& r, int d) {
  std::vector<resize::Source<T>> s(out);
  for (int64_t o = 0; o < out; ++o)
    s[o] = resize::source_of<T>(o, in, out, r.bilinear, r.align_corners, r.scale_factor[d]);
  return s;
}

}  // namespace

Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> out) {
  Tensor in = input.contiguous();
  const int64_t P = in.size(0), H = in.size(1), W = in.size(2), oH = out[0], oW = out[1];
  Tensor y = empty({P, oH, oW}, dtype(in.dtype()));
  GB_DISPATCH_FLOAT(in.dtype(), "adaptive_avg_pool2d", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = y.data_ptr<scalar_t>();
    parallel_for(P, H * W + oH * oW, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        for (int64_t oh = 0; oh < oH; ++oh) {
          const int64_t h0 = resize::bin_start(oh, H, oH), h1 = resize::bin_end(oh, H, oH);
          for (int64_t ow = 0; ow < oW; ++ow) {
            const int64_t w0 = resize::bin_start(ow, W, oW), w1 = resize::bin_end(ow, W, oW);
            double s = 0;
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) s += src[(p * H + h) * W + w];
            dst[(p * oH + oh) * oW + ow] = scalar_t(s / double((h1 - h0) * (w1 - w0)));
          }
        }
    });
  });
  return y;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape) {
  Tensor g = grad_out.contiguous();
  const int64_t P = input_shape[0], H = input_shape[1], W = input_shape[2];
  const int64_t oH = g.size(1), oW = g.size(2);
  Tensor gi = zeros(input_shape, dtype(g.dtype()));
  GB_DISPATCH_FLOAT(g.dtype(), "adaptive_avg_pool2d backward", [&] {
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* dst = gi.data_ptr<scalar_t>();
    parallel_for(P, H * W + oH * oW, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        for (int64_t oh = 0; oh < oH; ++oh) {
          const int64_t h0 = resize::bin_start(oh, H, oH), h1 = resize::bin_end(oh, H, oH);
          for (int64_t ow = 0; ow < oW; ++ow) {
            const int64_t w0 = resize::bin_start(ow, W, oW), w1 = resize::bin_end(ow, W, oW);
            // the count is an integer, exact in T: the CUDA gather divides the same way
            const scalar_t share = gp[(p * oH + oh) * oW + ow] / scalar_t((h1 - h0) * (w1 - w0));
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) dst[(p * H + h) * W + w] += share;
          }
        }
    });
  });
  return gi;
}

std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& input, std::array<int64_t, 2> out) {
  Tensor in = input.contiguous();
  const int64_t P = in.size(0), H = in.size(1), W = in.size(2), oH = out[0], oW = out[1];
  Tensor y = empty({P, oH, oW}, dtype(in.dtype()));
  Tensor idx = empty({P, oH, oW}, dtype(kInt64));
  int64_t* ip = idx.data_ptr<int64_t>();
  GB_DISPATCH_FLOAT(in.dtype(), "adaptive_max_pool2d", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = y.data_ptr<scalar_t>();
    parallel_for(P, H * W + oH * oW, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p)
        for (int64_t oh = 0; oh < oH; ++oh) {
          const int64_t h0 = resize::bin_start(oh, H, oH), h1 = resize::bin_end(oh, H, oH);
          for (int64_t ow = 0; ow < oW; ++ow) {
            const int64_t w0 = resize::bin_start(ow, W, oW), w1 = resize::bin_end(ow, W, oW);
            int64_t arg = h0 * W + w0;  // bins are never empty
            scalar_t best = src[p * H * W + arg];
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) {
                const scalar_t v = src[(p * H + h) * W + w];
                // strictly greater keeps the first maximum; a NaN wins and propagates
                if (v > best || (std::isnan(v) && !std::isnan(best))) best = v, arg = h * W + w;
              }
            dst[(p * oH + oh) * oW + ow] = best;
            ip[(p * oH + oh) * oW + ow] = arg;
          }
        }
    });
  });
  return {y, idx};
}

Tensor adaptive_max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                    const Shape& input_shape) {
  return max_pool2d_backward(grad_out, indices, input_shape);  // the same scatter by argmax
}

Tensor upsample2d(const Tensor& input, const Resize2d& r) {
  Tensor in = input.contiguous();
  const int64_t P = in.size(0), H = in.size(1), W = in.size(2), oH = r.out[0], oW = r.out[1];
  Tensor y = empty({P, oH, oW}, dtype(in.dtype()));
  GB_DISPATCH_FLOAT(in.dtype(), "interpolate", [&] {
    const auto rows = sources<scalar_t>(H, oH, r, 0), cols = sources<scalar_t>(W, oW, r, 1);
    const scalar_t* src = in.data_ptr<scalar_t>();
    scalar_t* dst = y.data_ptr<scalar_t>();
    parallel_for(P, 4 * oH * oW, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const scalar_t* x = src + p * H * W;
        for (int64_t oh = 0; oh < oH; ++oh) {
          const auto& h = rows[oh];
          for (int64_t ow = 0; ow < oW; ++ow) {
            const auto& w = cols[ow];
            if (!r.bilinear) {  // a copy: no 0 * inf from a zero weight
              dst[(p * oH + oh) * oW + ow] = x[h.i0 * W + w.i0];
              continue;
            }
            dst[(p * oH + oh) * oW + ow] =
                h.l0 * (w.l0 * x[h.i0 * W + w.i0] + w.l1 * x[h.i0 * W + w.i1]) +
                h.l1 * (w.l0 * x[h.i1 * W + w.i0] + w.l1 * x[h.i1 * W + w.i1]);
          }
        }
      }
    });
  });
  return y;
}

Tensor upsample2d_backward(const Tensor& grad_out, const Shape& input_shape, const Resize2d& r) {
  Tensor g = grad_out.contiguous();
  const int64_t P = input_shape[0], H = input_shape[1], W = input_shape[2];
  const int64_t oH = r.out[0], oW = r.out[1];
  Tensor gi = zeros(input_shape, dtype(g.dtype()));
  GB_DISPATCH_FLOAT(g.dtype(), "interpolate backward", [&] {
    const auto rows = sources<scalar_t>(H, oH, r, 0), cols = sources<scalar_t>(W, oW, r, 1);
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* dst = gi.data_ptr<scalar_t>();
    parallel_for(P, 4 * oH * oW, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        scalar_t* x = dst + p * H * W;
        for (int64_t oh = 0; oh < oH; ++oh) {
          const auto& h = rows[oh];
          for (int64_t ow = 0; ow < oW; ++ow) {
            const auto& w = cols[ow];
            const scalar_t v = gp[(p * oH + oh) * oW + ow];
            if (!r.bilinear) {
              x[h.i0 * W + w.i0] += v;
              continue;
            }
            x[h.i0 * W + w.i0] += h.l0 * w.l0 * v;
            x[h.i0 * W + w.i1] += h.l0 * w.l1 * v;
            x[h.i1 * W + w.i0] += h.l1 * w.l0 * v;
            x[h.i1 * W + w.i1] += h.l1 * w.l1 * v;
          }
        }
      }
    });
  });
  return gi;
}

}  // namespace glassbox::cpu
