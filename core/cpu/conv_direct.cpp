// Direct convolution: the definition of conv2d written as loops, for reading and as the
// reference every other algorithm is tested against. The three passes are one loop nest
// each over (output element, kernel tap, input channel of the group):
//   forward      y[n,o,i,j]          += x[n,c,row,col] * w[o,c',p,q]
//   grad_input   dx[n,c,row,col]     += dy[n,o,i,j]    * w[o,c',p,q]
//   grad_weight  dw[o,c',p,q]        += dy[n,o,i,j]    * x[n,c,row,col]
// with c = g*G + c', row = i*sh - pad_top + p*dh, col = j*sw - pad_left + q*dw, and
// the term skipped when (row, col) falls in the zero padding. Only the outer loop is
// parallel, over indices that own disjoint parts of the result.
#include "core/cpu/conv_cpu.h"

namespace glassbox::cpu {
namespace {
using conv_detail::data_or_null;

// Row-major index helpers for the three 4-D tensors, and the input pixel a tap reads.
// (Plain copies of the sizes, so the loops below do no divisions.)
struct Index {
  int64_t C, H, W, O, Ho, Wo, G, kh, kw, sh, sw, top, left, dh, dw;
  explicit Index(const ConvGeometry& g)
      : C(g.in_channels),
        H(g.in_h),
        W(g.in_w),
        O(g.out_channels),
        Ho(g.out_h),
        Wo(g.out_w),
        G(g.in_per_group()),
        kh(g.kernel_h),
        kw(g.kernel_w),
        sh(g.stride_h),
        sw(g.stride_w),
        top(g.pad_top),
        left(g.pad_left),
        dh(g.dilation_h),
        dw(g.dilation_w) {}
  int64_t x(int64_t n, int64_t c, int64_t row, int64_t col) const {
    return ((n * C + c) * H + row) * W + col;
  }
  int64_t y(int64_t n, int64_t o, int64_t i, int64_t j) const {
    return ((n * O + o) * Ho + i) * Wo + j;
  }
  int64_t w(int64_t o, int64_t c, int64_t p, int64_t q) const {
    return ((o * G + c) * kh + p) * kw + q;
  }
  int64_t row(int64_t i, int64_t p) const { return i * sh - top + p * dh; }
  int64_t col(int64_t j, int64_t q) const { return j * sw - left + q * dw; }
  bool inside(int64_t row, int64_t col) const { return row >= 0 && row < H && col >= 0 && col < W; }
};

int64_t taps_per_output(const ConvGeometry& g) {
  return g.in_per_group() * g.kernel_h * g.kernel_w;
}

template <class T>
void forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  const Index at(g);
  const int64_t G = g.in_per_group(), per_group_out = g.out_per_group();
  // one work item = one output plane (n, o)
  parallel_for(g.batch * g.out_channels, g.out_h * g.out_w * taps_per_output(g),
               [&](int64_t begin, int64_t end) {
                 for (int64_t item = begin; item < end; ++item) {
                   const int64_t n = item / g.out_channels, o = item % g.out_channels;
                   const int64_t first_c = (o / per_group_out) * G;
                   for (int64_t i = 0; i < g.out_h; ++i)
                     for (int64_t j = 0; j < g.out_w; ++j) {
                       T acc = b ? b[o] : T(0);
                       for (int64_t c = 0; c < G; ++c)
                         for (int64_t p = 0; p < g.kernel_h; ++p)
                           for (int64_t q = 0; q < g.kernel_w; ++q) {
                             const int64_t row = at.row(i, p), col = at.col(j, q);
                             if (at.inside(row, col))
                               acc += x[at.x(n, first_c + c, row, col)] * w[at.w(o, c, p, q)];
                           }
                       y[at.y(n, o, i, j)] = acc;
                     }
                 }
               });
}

template <class T>
void grad_input(const T* dy, const T* w, const T* b, T* dx, const ConvGeometry& g) {
  const Index at(g);
  const int64_t G = g.in_per_group(), per_group_out = g.out_per_group();
  const int64_t plane = g.in_h * g.in_w;
  for (int64_t i = 0; i < g.batch * g.in_channels; ++i)
    std::fill(dx + i * plane, dx + (i + 1) * plane, b ? b[i % g.in_channels] : T(0));
  // one work item = (n, group): it writes only that group's input channels of image n
  parallel_for(g.batch * g.groups, per_group_out * g.out_h * g.out_w * taps_per_output(g),
               [&](int64_t begin, int64_t end) {
                 for (int64_t item = begin; item < end; ++item) {
                   const int64_t n = item / g.groups, group = item % g.groups;
                   for (int64_t o = group * per_group_out; o < (group + 1) * per_group_out; ++o)
                     for (int64_t i = 0; i < g.out_h; ++i)
                       for (int64_t j = 0; j < g.out_w; ++j) {
                         const T grad = dy[at.y(n, o, i, j)];
                         for (int64_t c = 0; c < G; ++c)
                           for (int64_t p = 0; p < g.kernel_h; ++p)
                             for (int64_t q = 0; q < g.kernel_w; ++q) {
                               const int64_t row = at.row(i, p), col = at.col(j, q);
                               if (at.inside(row, col))
                                 dx[at.x(n, group * G + c, row, col)] += grad * w[at.w(o, c, p, q)];
                             }
                       }
                 }
               });
}

template <class T>
void grad_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g) {
  const Index at(g);
  const int64_t G = g.in_per_group(), per_group_out = g.out_per_group();
  // one work item = one output channel o: it owns dw[o]
  parallel_for(g.out_channels, g.batch * g.out_h * g.out_w * taps_per_output(g),
               [&](int64_t begin, int64_t end) {
                 for (int64_t o = begin; o < end; ++o) {
                   const int64_t first_c = (o / per_group_out) * G;
                   for (int64_t c = 0; c < G; ++c)
                     for (int64_t p = 0; p < g.kernel_h; ++p)
                       for (int64_t q = 0; q < g.kernel_w; ++q) {
                         T acc = 0;
                         for (int64_t n = 0; n < g.batch; ++n)
                           for (int64_t i = 0; i < g.out_h; ++i)
                             for (int64_t j = 0; j < g.out_w; ++j) {
                               const int64_t row = at.row(i, p), col = at.col(j, q);
                               if (at.inside(row, col))
                                 acc += dy[at.y(n, o, i, j)] * x[at.x(n, first_c + c, row, col)];
                             }
                         dw[at.w(o, c, p, q)] = acc;
                       }
                 }
               });
}

}  // namespace

Tensor conv2d_forward_direct(const Tensor& x, const Tensor& w, const Tensor& b,
                             const ConvGeometry& g) {
  Tensor y = empty(g.output_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    forward(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
            y.data_ptr<scalar_t>(), g);
  });
  return y;
}

Tensor conv2d_grad_input_direct(const Tensor& dy, const Tensor& w, const Tensor& b,
                                const ConvGeometry& g) {
  Tensor dx = empty(g.input_shape(), dtype(dy.dtype()));
  GB_DISPATCH_FLOAT(dy.dtype(), "conv2d", [&] {
    grad_input(dy.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
               dx.data_ptr<scalar_t>(), g);
  });
  return dx;
}

Tensor conv2d_grad_weight_direct(const Tensor& x, const Tensor& dy, const ConvGeometry& g) {
  Tensor dw = empty(g.weight_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    grad_weight(x.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(), g);
  });
  return dw;
}

}  // namespace glassbox::cpu
