// Batch normalisation over [N, C, S] (S = the product of the spatial dims): per-channel
// statistics, the normalising forward, and the backward through both the affine part and,
// in training, the batch statistics themselves. Channels are independent, so every pass is
// split across threads by channel; sums run in double.
#include <cmath>

#include "core/cpu/nn_kernels.h"
#include "core/parallel.h"

namespace glassbox::cpu {
namespace {

template <class T>
const T* maybe_ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

std::pair<Tensor, Tensor> batch_norm_stats(const Tensor& input) {
  Tensor x = input.contiguous();
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2), M = N * S;
  Tensor mean = empty({C}, dtype(x.dtype())), var = empty({C}, dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t *mp = mean.data_ptr<scalar_t>(), *vp = var.data_ptr<scalar_t>();
    parallel_for(C, M * 2, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double s = 0.0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) s += xp[(n * C + c) * S + i];
        const double m = M > 0 ? s / double(M) : 0.0;
        double ss = 0.0;  // two passes: no cancellation from E[x^2] - E[x]^2
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const double d = xp[(n * C + c) * S + i] - m;
            ss += d * d;
          }
        mp[c] = scalar_t(m);
        vp[c] = scalar_t(M > 0 ? ss / double(M) : 0.0);
      }
    });
  });
  return {mean, var};
}

Tensor batch_norm_forward(const Tensor& input, const Tensor& mean, const Tensor& invstd,
                          const Tensor& weight, const Tensor& bias) {
  Tensor x = input.contiguous(), m = mean.contiguous(), is = invstd.contiguous();
  Tensor w = weight.defined() ? weight.contiguous() : weight;
  Tensor bb = bias.defined() ? bias.contiguous() : bias;
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2);
  Tensor out = empty(x.shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    const scalar_t *xp = x.data_ptr<scalar_t>(), *mp = m.data_ptr<scalar_t>(),
                   *ip = is.data_ptr<scalar_t>();
    const scalar_t *wp = maybe_ptr<scalar_t>(w), *bp = maybe_ptr<scalar_t>(bb);
    scalar_t* yp = out.data_ptr<scalar_t>();
    parallel_for(N * C, S, [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const int64_t c = nc % C;
        const scalar_t scale = ip[c] * (wp ? wp[c] : scalar_t(1));
        const scalar_t shift = (bp ? bp[c] : scalar_t(0)) - mp[c] * scale;
        const scalar_t* xr = xp + nc * S;
        scalar_t* yr = yp + nc * S;
        for (int64_t i = 0; i < S; ++i) yr[i] = xr[i] * scale + shift;
      }
    });
  });
  return out;
}

std::tuple<Tensor, Tensor, Tensor> batch_norm_backward(const Tensor& grad_out, const Tensor& input,
                                                       const Tensor& mean, const Tensor& invstd,
                                                       const Tensor& weight, bool batch_stats,
                                                       std::array<bool, 3> needed) {
  Tensor g = grad_out.contiguous(), x = input.contiguous(), m = mean.contiguous(),
         is = invstd.contiguous();
  Tensor w = weight.defined() ? weight.contiguous() : weight;
  const int64_t N = x.size(0), C = x.size(1), S = x.size(2), M = N * S;
  const auto opts = dtype(x.dtype());
  Tensor gx = needed[0] ? empty(x.shape(), opts) : Tensor();
  Tensor gw = needed[1] ? empty({C}, opts) : Tensor();
  Tensor gb = needed[2] ? empty({C}, opts) : Tensor();
  GB_DISPATCH_FLOAT(x.dtype(), "batch_norm backward", [&] {
    const scalar_t *gp = g.data_ptr<scalar_t>(), *xp = x.data_ptr<scalar_t>(),
                   *mp = m.data_ptr<scalar_t>(), *ip = is.data_ptr<scalar_t>();
    const scalar_t* wp = maybe_ptr<scalar_t>(w);
    scalar_t* gxp = needed[0] ? gx.data_ptr<scalar_t>() : nullptr;
    scalar_t* gwp = needed[1] ? gw.data_ptr<scalar_t>() : nullptr;
    scalar_t* gbp = needed[2] ? gb.data_ptr<scalar_t>() : nullptr;
    parallel_for(C, M * 3, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const double mu = mp[c], inv = ip[c], wc = wp ? double(wp[c]) : 1.0;
        double sum_g = 0.0, sum_gd = 0.0;  // sum g, sum g * (x - mean)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < S; ++i) {
            const int64_t at = (n * C + c) * S + i;
            sum_g += gp[at];
            sum_gd += double(gp[at]) * (xp[at] - mu);
          }
        if (gbp) gbp[c] = scalar_t(sum_g);
        if (gwp) gwp[c] = scalar_t(sum_gd * inv);
        if (!gxp) continue;
        if (batch_stats) {
          // y = xhat * w + b with xhat = (x - mean) * invstd, both statistics from this batch:
          // dx = w * invstd * (g - mean(g) - xhat * mean(g * xhat))
          const double mean_g = sum_g / double(M), proj = sum_gd * inv * inv / double(M);
          for (int64_t n = 0; n < N; ++n)
            for (int64_t i = 0; i < S; ++i) {
              const int64_t at = (n * C + c) * S + i;
              gxp[at] = scalar_t(wc * inv * (gp[at] - mean_g - (xp[at] - mu) * proj));
            }
        } else {
          const double scale = wc * inv;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t i = 0; i < S; ++i) {
              const int64_t at = (n * C + c) * S + i;
              gxp[at] = scalar_t(gp[at] * scale);
            }
        }
      }
    });
  });
  return {gx, gw, gb};
}

}  // namespace glassbox::cpu
