// Im2col convolution: per image and group, copy every receptive field into a column buffer
// col [G*kH*kW, out_h*out_w] (row r = (c, p, q), column = output pixel; zero where the tap
// falls in the padding), after which the convolution is one GEMM:
//   forward      y_g  [Cout_g, P] = w_g [Cout_g, K] * col [K, P]
//   grad_input   col  [K, P]      = w_g^T * dy_g, then col2im adds each column back into dx
//   grad_weight  dw_g [Cout_g, K] += dy_g [Cout_g, P] * col^T
// Images are spread over threads, each with its own col buffer (Eigen runs single-threaded
// inside a parallel region); a single image runs serially and lets Eigen thread the GEMM.
#include <Eigen/Core>

#include "core/cpu/conv_cpu.h"

namespace glassbox::cpu {
namespace {
using conv_detail::Buffer;
using conv_detail::data_or_null;

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows of col per group (K) and columns (P).
int64_t col_rows(const ConvGeometry& g) { return g.in_per_group() * g.kernel_h * g.kernel_w; }
int64_t col_cols(const ConvGeometry& g) { return g.out_h * g.out_w; }

// Fills col [K, P] from x_g, the G channels [G, H, W] of one group of one image.
template <class T>
void im2col(const T* x_g, T* col, const ConvGeometry& g) {
  const int64_t P = col_cols(g);
  const int64_t taps = g.kernel_h * g.kernel_w;
  parallel_for(col_rows(g), P, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r / taps, p = (r % taps) / g.kernel_w, q = r % g.kernel_w;
      const T* plane = x_g + c * g.in_h * g.in_w;
      T* out = col + r * P;
      for (int64_t i = 0; i < g.out_h; ++i) {
        const int64_t row = i * g.stride_h - g.pad_top + p * g.dilation_h;
        T* out_row = out + i * g.out_w;
        if (row < 0 || row >= g.in_h) {
          std::fill(out_row, out_row + g.out_w, T(0));
          continue;
        }
        for (int64_t j = 0; j < g.out_w; ++j) {
          const int64_t col_ = j * g.stride_w - g.pad_left + q * g.dilation_w;
          out_row[j] = (col_ >= 0 && col_ < g.in_w) ? plane[row * g.in_w + col_] : T(0);
        }
      }
    }
  });
}

// The adjoint of im2col: adds every entry of col back into dx_g [G, H, W].
template <class T>
void col2im(const T* col, T* dx_g, const ConvGeometry& g) {
  const int64_t P = col_cols(g);
  const int64_t taps = g.kernel_h * g.kernel_w;
  // one work item = one input channel, which owns its plane of dx_g
  parallel_for(g.in_per_group(), taps * P, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      T* plane = dx_g + c * g.in_h * g.in_w;
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t p = t / g.kernel_w, q = t % g.kernel_w;
        const T* in = col + (c * taps + t) * P;
        for (int64_t i = 0; i < g.out_h; ++i) {
          const int64_t row = i * g.stride_h - g.pad_top + p * g.dilation_h;
          if (row < 0 || row >= g.in_h) continue;
          for (int64_t j = 0; j < g.out_w; ++j) {
            const int64_t col_ = j * g.stride_w - g.pad_left + q * g.dilation_w;
            if (col_ >= 0 && col_ < g.in_w) plane[row * g.in_w + col_] += in[i * g.out_w + j];
          }
        }
      }
    }
  });
}

template <class T>
void forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  const int64_t K = col_rows(g), P = col_cols(g), G = g.in_per_group(), M = g.out_per_group();
  parallel_for(g.batch, g.out_channels * K * P, [&](int64_t begin, int64_t end) {
    Buffer<T> col(static_cast<size_t>(K * P));
    for (int64_t n = begin; n < end; ++n)
      for (int64_t group = 0; group < g.groups; ++group) {
        im2col(x + (n * g.in_channels + group * G) * g.in_h * g.in_w, col.data(), g);
        Eigen::Map<const RowMat<T>> wg(w + group * M * K, M, K);
        Eigen::Map<const RowMat<T>> cm(col.data(), K, P);
        Eigen::Map<RowMat<T>> yg(y + (n * g.out_channels + group * M) * P, M, P);
        yg.noalias() = wg * cm;
      }
  });
  conv_detail::add_channel_bias(y, b, g.batch, g.out_channels, P);
}

template <class T>
void grad_input(const T* dy, const T* w, const T* b, T* dx, const ConvGeometry& g) {
  const int64_t K = col_rows(g), P = col_cols(g), G = g.in_per_group(), M = g.out_per_group();
  const int64_t plane = g.in_h * g.in_w;
  for (int64_t i = 0; i < g.batch * g.in_channels; ++i)
    std::fill(dx + i * plane, dx + (i + 1) * plane, b ? b[i % g.in_channels] : T(0));
  parallel_for(g.batch, g.out_channels * K * P, [&](int64_t begin, int64_t end) {
    Buffer<T> col(static_cast<size_t>(K * P));
    for (int64_t n = begin; n < end; ++n)
      for (int64_t group = 0; group < g.groups; ++group) {
        Eigen::Map<const RowMat<T>> wg(w + group * M * K, M, K);
        Eigen::Map<const RowMat<T>> dyg(dy + (n * g.out_channels + group * M) * P, M, P);
        Eigen::Map<RowMat<T>> cm(col.data(), K, P);
        cm.noalias() = wg.transpose() * dyg;
        col2im(col.data(), dx + (n * g.in_channels + group * G) * plane, g);
      }
  });
}

template <class T>
void grad_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g) {
  const int64_t K = col_rows(g), P = col_cols(g), G = g.in_per_group(), M = g.out_per_group();
  const int64_t size = g.out_channels * K;  // dw is [C_out, K] as a matrix
  Buffer<T> total = conv_detail::parallel_sum<T>(
      g.batch, g.out_channels * K * P, size, [&](int64_t begin, int64_t end, T* acc) {
        Buffer<T> col(static_cast<size_t>(K * P));
        for (int64_t n = begin; n < end; ++n)
          for (int64_t group = 0; group < g.groups; ++group) {
            im2col(x + (n * g.in_channels + group * G) * g.in_h * g.in_w, col.data(), g);
            Eigen::Map<const RowMat<T>> dyg(dy + (n * g.out_channels + group * M) * P, M, P);
            Eigen::Map<const RowMat<T>> cm(col.data(), K, P);
            Eigen::Map<RowMat<T>> dwg(acc + group * M * K, M, K);
            dwg.noalias() += dyg * cm.transpose();
          }
      });
  std::copy(total.begin(), total.end(), dw);
}

}  // namespace

Tensor conv2d_forward_im2col(const Tensor& x, const Tensor& w, const Tensor& b,
                             const ConvGeometry& g) {
  Tensor y = empty(g.output_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    forward(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
            y.data_ptr<scalar_t>(), g);
  });
  return y;
}

Tensor conv2d_grad_input_im2col(const Tensor& dy, const Tensor& w, const Tensor& b,
                                const ConvGeometry& g) {
  Tensor dx = empty(g.input_shape(), dtype(dy.dtype()));
  GB_DISPATCH_FLOAT(dy.dtype(), "conv2d", [&] {
    grad_input(dy.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
               dx.data_ptr<scalar_t>(), g);
  });
  return dx;
}

Tensor conv2d_grad_weight_im2col(const Tensor& x, const Tensor& dy, const ConvGeometry& g) {
  Tensor dw = empty(g.weight_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    grad_weight(x.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(), g);
  });
  return dw;
}

}  // namespace glassbox::cpu
