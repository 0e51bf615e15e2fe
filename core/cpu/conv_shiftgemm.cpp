// ShiftGemm ("kn2row") convolution: no im2col buffer. In a channels-last image [H, W, C]
// the pixels a kernel tap (p, q) reads for a row of outputs are equally spaced, each a
// contiguous run of channels, so for every tap the whole convolution is one GEMM over the
// channel dimension, added into the output:
//
//   y_cl[i, j, :]   += x_cl[i*sh + p*dh, j*sw + q*dw, :] * W_pq        W_pq = w[:, :, p, q]^T
//   [P, Cout_g]        [P, Cin_g] (rows sw*C apart)         [Cin_g, Cout_g]
//
// with P the output pixels. The backward passes are the same GEMMs transposed:
//   dx_cl[shifted]  += dy_cl * W_pq^T        (scattered back into the shifted pixels)
//   dW_pq           += x_cl[shifted]^T * dy_cl
//
// Layout. The channels-last copy is zero-padded (pad_top/pad_left, and on the bottom/right
// as far as the kernel reaches), so every tap reads a full, in-bounds grid. With stride_h
// == 1 and the padded width Wp a multiple of stride_w, output pixel (i, j) sits at index
// i*Wx + j of a channels-last output whose rows are Wx = Wp/stride_w pixels wide; then the
// pixels a tap reads are one arithmetic progression over all rows at once, and a block of
// output rows is a single GEMM per tap. The Wx - out_w slack pixels at the end of each row
// read whatever follows and are dropped (forward), or carry a zero gradient (backward).
// (So with an inf/NaN in the input or weight, 0 * inf can make a gradient NaN where Direct's
// is finite; finite data gives the same results.)
// With stride_h > 1 each output row is its own GEMM.
//
// The GEMMs. Eigen's GEMM vectorises along the output channels, so with only a few
// channels per group its packing overhead dominates (5-15x slower than needed for 3->3).
// For up to 4 channels per group on both sides the same products are written out with
// compile-time sizes, which the compiler unrolls and vectorises along the pixels. Depthwise
// convolutions (one input and one output channel per group) do all groups of a tap at once,
// as an element-wise multiply-add across the channels.
//
// Blocking and threads. Nothing is converted as a whole: a work item is a block of rows of
// one image; it packs just the rows it needs into channels-last buffers (small enough to
// stay in L2), runs its GEMMs and writes its part of the NCHW result. Items are spread over
// threads with parallel_for; Eigen then runs single-threaded inside each thread. grad_input
// blocks by rows of dx, so items never write the same pixel; grad_weight sums per-thread
// partial results in a fixed order.
#include <Eigen/Core>

#include "core/cpu/conv_cpu.h"

namespace glassbox::cpu {
namespace {
using conv_detail::Buffer;
using conv_detail::ceil_div;
using conv_detail::data_or_null;

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
template <class T>
using Mat = Eigen::Map<RowMat<T>, 0, Stride>;
template <class T>
using ConstMat = Eigen::Map<const RowMat<T>, 0, Stride>;

// A block's working set (input rows + output rows), in elements: ~256 KiB of float32 so it
// stays in a 512 KiB+ L2 with room for the packed GEMM operands.
constexpr int64_t kBlockElements = 64 * 1024;

struct Layout {
  int64_t Hp = 0, Wp = 0;  // padded channels-last input: rows and pixels per row
  int64_t Wx = 0;          // pixels per channels-last output row (>= out_w)
  bool merged = false;     // stride_h == 1: a block of output rows is one GEMM per tap
  int64_t span_h = 0;      // input rows one output row reads: (kH-1)*dh + 1
};

Layout layout_of(const ConvGeometry& g) {
  Layout L;
  L.span_h = (g.kernel_h - 1) * g.dilation_h + 1;
  L.Hp = std::max(g.pad_top + g.in_h, (g.out_h - 1) * g.stride_h + L.span_h);
  L.Wp = std::max(g.pad_left + g.in_w,
                  (g.out_w - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1);
  L.merged = g.stride_h == 1;
  if (L.merged) {
    L.Wp = ceil_div(L.Wp, g.stride_w) * g.stride_w;
    L.Wx = L.Wp / g.stride_w;
  } else {
    L.Wx = g.out_w;
  }
  return L;
}

// Rows per block: the working set fits kBlockElements, and there are enough blocks to keep
// every thread busy (about four per thread).
int64_t block_rows(int64_t total_rows, int64_t elements_per_row, int64_t batch) {
  int64_t rows = std::max<int64_t>(1, kBlockElements / std::max<int64_t>(1, elements_per_row));
  const int64_t want_blocks = ceil_div(4 * get_num_threads(), std::max<int64_t>(1, batch));
  rows = std::min(rows, std::max<int64_t>(1, ceil_div(total_rows, want_blocks)));
  return std::min(rows, std::max<int64_t>(1, total_rows));
}

// w [C_out, G, kH, kW] -> [kH, kW, groups, G, M]: W_pq of each group as a row-major [G, M]
// (or its transpose, [M, G], for the input gradient).
template <class T>
Buffer<T> tap_matrices(const T* w, const ConvGeometry& g, bool transposed) {
  const int64_t G = g.in_per_group(), M = g.out_per_group();
  Buffer<T> taps(static_cast<size_t>(g.out_channels * G * g.kernel_h * g.kernel_w));
  for (int64_t o = 0; o < g.out_channels; ++o)
    for (int64_t c = 0; c < G; ++c)
      for (int64_t p = 0; p < g.kernel_h; ++p)
        for (int64_t q = 0; q < g.kernel_w; ++q) {
          const int64_t group = o / M, m = o - group * M;
          const int64_t at = transposed ? m * G + c : c * M + m;
          taps[((p * g.kernel_w + q) * g.groups + group) * G * M + at] =
              w[((o * G + c) * g.kernel_h + p) * g.kernel_w + q];
        }
  return taps;
}

// ---- the per-tap products: a [P, K] with rows `sa` apart, w [K, N] row-major, y / e
// [P, N] with rows `sy` / `se` apart.

constexpr int kSmall = 4;  // channel counts up to this use the fixed-size loops

// y (+)= a * w. Packed: the rows of a and y are contiguous (sa == K, sy == N, e.g. stride 1
// and one group), which the compiler vectorises much better when it knows it.
template <class T, int K, int N, bool Packed>
void product_fixed(const T* a, int64_t sa, const T* w, T* y, int64_t sy, int64_t P,
                   bool accumulate) {
  if (Packed) sa = K, sy = N;
  T wr[K][N];
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) wr[k][n] = w[k * N + n];
  for (int64_t p = 0; p < P; ++p) {
    const T* ap = a + p * sa;
    T* yp = y + p * sy;
    T acc[N];
    for (int n = 0; n < N; ++n) acc[n] = accumulate ? yp[n] : T(0);
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) acc[n] += ap[k] * wr[k][n];
    for (int n = 0; n < N; ++n) yp[n] = acc[n];
  }
}

// dw [K, N] += a^T * e
template <class T, int K, int N, bool Packed>
void gram_fixed(const T* a, int64_t sa, const T* e, int64_t se, int64_t P, T* dw) {
  if (Packed) sa = K, se = N;
  T acc[K][N] = {};
  for (int64_t p = 0; p < P; ++p)
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < N; ++n) acc[k][n] += a[p * sa + k] * e[p * se + n];
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) dw[k * N + n] += acc[k][n];
}

template <class T>
using ProductFn = void (*)(const T*, int64_t, const T*, T*, int64_t, int64_t, bool);
template <class T>
using GramFn = void (*)(const T*, int64_t, const T*, int64_t, int64_t, T*);

// The fixed-size kernels for K x N (packed and strided), or nulls when K or N > kSmall.
template <class T>
struct FixedKernels {
  ProductFn<T> product = nullptr, product_packed = nullptr;
  GramFn<T> gram = nullptr, gram_packed = nullptr;
};
template <class T, int K, int N>
FixedKernels<T> fixed_kernels() {
  return {&product_fixed<T, K, N, false>, &product_fixed<T, K, N, true>,
          &gram_fixed<T, K, N, false>, &gram_fixed<T, K, N, true>};
}
template <class T, int K>
FixedKernels<T> fixed_kernels(int64_t n) {
  switch (n) {
    case 1:
      return fixed_kernels<T, K, 1>();
    case 2:
      return fixed_kernels<T, K, 2>();
    case 3:
      return fixed_kernels<T, K, 3>();
    case 4:
      return fixed_kernels<T, K, 4>();
  }
  return {};
}
template <class T>
FixedKernels<T> fixed_kernels(int64_t k, int64_t n) {
  switch (k) {
    case 1:
      return fixed_kernels<T, 1>(n);
    case 2:
      return fixed_kernels<T, 2>(n);
    case 3:
      return fixed_kernels<T, 3>(n);
    case 4:
      return fixed_kernels<T, 4>(n);
  }
  return {};
}
static_assert(kSmall == 4, "fixed_kernels enumerates 1..kSmall");

// One GEMM of a pass, K x N per group: fixed-size loops or Eigen.
template <class T>
struct TapGemm {
  int64_t K, N;
  FixedKernels<T> fixed;
  TapGemm(int64_t k, int64_t n) : K(k), N(n), fixed(fixed_kernels<T>(k, n)) {}

  void product(const T* a, int64_t sa, const T* w, T* y, int64_t sy, int64_t P,
               bool accumulate) const {
    if (fixed.product) {
      const bool packed = sa == K && sy == N;
      return (packed ? fixed.product_packed : fixed.product)(a, sa, w, y, sy, P, accumulate);
    }
    ConstMat<T> am(a, P, K, Stride(sa)), wm(w, K, N, Stride(N));
    Mat<T> ym(y, P, N, Stride(sy));
    if (accumulate)
      ym.noalias() += am * wm;
    else
      ym.noalias() = am * wm;
  }
  void gram(const T* a, int64_t sa, const T* e, int64_t se, int64_t P, T* dw) const {
    if (fixed.gram) {
      const bool packed = sa == K && se == N;
      return (packed ? fixed.gram_packed : fixed.gram)(a, sa, e, se, P, dw);
    }
    ConstMat<T> am(a, P, K, Stride(sa)), em(e, P, N, Stride(se));
    Mat<T> dwm(dw, K, N, Stride(N));
    dwm.noalias() += am.transpose() * em;
  }
};

// Depthwise: a [P, C] and y [P, C] with all groups side by side, w [C] (one weight per
// channel for this tap): y (+)= a * w per channel, and dw += sum over pixels of a * e.
template <class T>
using Array = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
void depthwise_product(const T* a, int64_t sa, const T* w, T* y, int64_t sy, int64_t P, int64_t C,
                       bool accumulate) {
  Eigen::Map<const Array<T>, 0, Stride> am(a, P, C, Stride(sa));
  Eigen::Map<Array<T>, 0, Stride> ym(y, P, C, Stride(sy));
  Eigen::Map<const Array<T>> wm(w, 1, C);
  if (accumulate)
    ym += am.rowwise() * wm.row(0);
  else
    ym = am.rowwise() * wm.row(0);
}
template <class T>
void depthwise_gram(const T* a, int64_t sa, const T* e, int64_t se, int64_t P, int64_t C, T* dw) {
  Eigen::Map<const Array<T>, 0, Stride> am(a, P, C, Stride(sa)), em(e, P, C, Stride(se));
  Eigen::Map<Array<T>> dwm(dw, 1, C);
  dwm += (am * em).colwise().sum();
}

// Rows [r0, r1) of the channels-last, zero-padded version of one NCHW image (C planes of
// h x w placed at row `top`, column `left` of a grid `width` pixels wide) -> dst
// [r1 - r0, width, C].
template <class T>
void pack_rows(const T* img, int64_t C, int64_t h, int64_t w, int64_t top, int64_t left, int64_t r0,
               int64_t r1, int64_t width, T* dst) {
  for (int64_t r = r0; r < r1; ++r) {
    T* d = dst + (r - r0) * width * C;
    const int64_t src_row = r - top;
    if (src_row < 0 || src_row >= h) {
      std::fill(d, d + width * C, T(0));
      continue;
    }
    std::fill(d, d + left * C, T(0));
    std::fill(d + (left + w) * C, d + width * C, T(0));
    if (C == 1) {
      std::copy(img + src_row * w, img + (src_row + 1) * w, d + left);
      continue;
    }
    for (int64_t c = 0; c < C; ++c) {
      const T* s = img + (c * h + src_row) * w;
      T* dc = d + left * C + c;
      for (int64_t k = 0; k < w; ++k) dc[k * C] = s[k];
    }
  }
}

// The inverse: channels-last rows src [rows, width, C], pixels from column `left` on, ->
// rows [row0, row0 + rows) of an NCHW image [C, h, w], plus b[c] when b is given.
template <class T>
void unpack_rows(const T* src, int64_t width, int64_t C, int64_t left, T* img, int64_t h, int64_t w,
                 int64_t row0, int64_t rows, const T* b) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) {
      T* d = img + (c * h + row0 + r) * w;
      const T* s = src + (r * width + left) * C + c;
      const T add = b ? b[c] : T(0);
      for (int64_t k = 0; k < w; ++k) d[k] = s[k * C] + add;
    }
}

template <class T>
void forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  const Layout L = layout_of(g);
  const int64_t Cin = g.in_channels, Cout = g.out_channels;
  const int64_t G = g.in_per_group(), M = g.out_per_group();
  const int64_t sh = g.stride_h, sw = g.stride_w;
  const bool depthwise = G == 1 && M == 1;
  const TapGemm<T> gemm(G, M);
  const Buffer<T> taps = tap_matrices(w, g, /*transposed=*/false);
  const int64_t R = block_rows(g.out_h, sh * L.Wp * Cin + L.Wx * Cout, g.batch);
  const int64_t blocks = ceil_div(g.out_h, R);
  const int64_t cost = R * g.out_w * Cout * G * g.kernel_h * g.kernel_w;
  parallel_for(g.batch * blocks, cost, [&](int64_t begin, int64_t end) {
    Buffer<T> in((R - 1) * sh * L.Wp * Cin + L.span_h * L.Wp * Cin);
    Buffer<T> out(R * L.Wx * Cout);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks, i0 = (item % blocks) * R;
      const int64_t rows = std::min(R, g.out_h - i0);
      // input rows [i0*sh, (i0+rows-1)*sh + span_h) of the padded image, channels-last
      pack_rows(x + n * Cin * g.in_h * g.in_w, Cin, g.in_h, g.in_w, g.pad_top, g.pad_left, i0 * sh,
                (i0 + rows - 1) * sh + L.span_h, L.Wp, in.data());
      for (int64_t p = 0; p < g.kernel_h; ++p)
        for (int64_t q = 0; q < g.kernel_w; ++q) {
          const T* tap_in = in.data() + (p * g.dilation_h * L.Wp + q * g.dilation_w) * Cin;
          const T* tap_w = taps.data() + (p * g.kernel_w + q) * g.groups * G * M;
          const bool accumulate = p > 0 || q > 0;
          // out[r, j, :] (+)= in[r*sh + p*dh, j*sw + q*dw, :] * W_pq for P pixels from row r
          auto one = [&](int64_t r, int64_t P) {
            const T* a = tap_in + r * sh * L.Wp * Cin;
            T* yb = out.data() + r * L.Wx * Cout;
            if (depthwise)
              return depthwise_product(a, sw * Cin, tap_w, yb, Cout, P, Cout, accumulate);
            for (int64_t group = 0; group < g.groups; ++group)
              gemm.product(a + group * G, sw * Cin, tap_w + group * G * M, yb + group * M, Cout, P,
                           accumulate);
          };
          if (L.merged) {
            one(0, (rows - 1) * L.Wx + g.out_w);
          } else {
            for (int64_t r = 0; r < rows; ++r) one(r, g.out_w);
          }
        }
      unpack_rows(out.data(), L.Wx, Cout, 0, y + n * Cout * g.out_h * g.out_w, g.out_h, g.out_w, i0,
                  rows, b);
    }
  });
}

template <class T>
void grad_input(const T* dy, const T* w, const T* b, T* dx, const ConvGeometry& g) {
  const Layout L = layout_of(g);
  const int64_t Cin = g.in_channels, Cout = g.out_channels;
  const int64_t G = g.in_per_group(), M = g.out_per_group();
  const int64_t sh = g.stride_h, sw = g.stride_w, dh = g.dilation_h;
  const bool depthwise = G == 1 && M == 1;
  const TapGemm<T> gemm(M, G);
  const Buffer<T> taps = tap_matrices(w, g, /*transposed=*/true);  // W_pq^T: [M, G]
  // blocks of rows of the padded dx, over the rows that are inside the image
  const int64_t R = block_rows(g.in_h, L.Wp * Cin + ceil_div(L.Wx * Cout, sh), g.batch);
  const int64_t blocks = ceil_div(g.in_h, R);
  const int64_t cost = R * g.in_w * Cin * M * g.kernel_h * g.kernel_w;
  parallel_for(g.batch * blocks, cost, [&](int64_t begin, int64_t end) {
    Buffer<T> dxb(R * L.Wp * Cin), dyb;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks;
      const int64_t r0 = g.pad_top + (item % blocks) * R;  // padded rows [r0, r1)
      const int64_t r1 = std::min(g.pad_top + g.in_h, r0 + R);
      // the output rows i with i*sh + p*dh in [r0, r1) for some kernel row p
      const int64_t i_lo = std::max<int64_t>(0, ceil_div(r0 - (g.kernel_h - 1) * dh, sh));
      const int64_t i_hi = std::min(g.out_h, ceil_div(r1, sh));
      std::fill(dxb.begin(), dxb.end(), T(0));
      if (i_lo < i_hi) {
        const size_t need = static_cast<size_t>((i_hi - i_lo) * L.Wx * Cout);
        if (dyb.size() < need) dyb.resize(need);
        // dy rows [i_lo, i_hi), channels-last, slack pixels zero
        pack_rows(dy + n * Cout * g.out_h * g.out_w, Cout, g.out_h, g.out_w, 0, 0, i_lo, i_hi, L.Wx,
                  dyb.data());
      }
      for (int64_t p = 0; p < g.kernel_h && i_lo < i_hi; ++p) {
        const int64_t ia = std::max(i_lo, ceil_div(r0 - p * dh, sh));
        const int64_t ib = std::min(i_hi, ceil_div(r1 - p * dh, sh));
        if (ia >= ib) continue;
        for (int64_t q = 0; q < g.kernel_w; ++q) {
          const T* tap_w = taps.data() + (p * g.kernel_w + q) * g.groups * G * M;
          // dx[i*sh + p*dh, j*sw + q*dw, :] += dy[i, j, :] * W_pq^T for P pixels from row i
          auto one = [&](int64_t i, int64_t P) {
            T* d = dxb.data() + ((i * sh + p * dh - r0) * L.Wp + q * g.dilation_w) * Cin;
            const T* e = dyb.data() + (i - i_lo) * L.Wx * Cout;
            if (depthwise) return depthwise_product(e, Cout, tap_w, d, sw * Cin, P, Cin, true);
            for (int64_t group = 0; group < g.groups; ++group)
              gemm.product(e + group * M, Cout, tap_w + group * G * M, d + group * G, sw * Cin, P,
                           true);
          };
          if (L.merged) {
            one(ia, (ib - ia - 1) * L.Wx + g.out_w);
          } else {
            for (int64_t i = ia; i < ib; ++i) one(i, g.out_w);
          }
        }
      }
      unpack_rows(dxb.data(), L.Wp, Cin, g.pad_left, dx + n * Cin * g.in_h * g.in_w, g.in_h, g.in_w,
                  r0 - g.pad_top, r1 - r0, b);
    }
  });
}

template <class T>
void grad_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g) {
  const Layout L = layout_of(g);
  const int64_t Cin = g.in_channels, Cout = g.out_channels;
  const int64_t G = g.in_per_group(), M = g.out_per_group();
  const int64_t sh = g.stride_h, sw = g.stride_w;
  const bool depthwise = G == 1 && M == 1;
  const TapGemm<T> gemm(G, M);
  const int64_t R = block_rows(g.out_h, sh * L.Wp * Cin + L.Wx * Cout, g.batch);
  const int64_t blocks = ceil_div(g.out_h, R);
  const int64_t cost = R * g.out_w * Cout * G * g.kernel_h * g.kernel_w;
  const int64_t size = g.kernel_h * g.kernel_w * g.groups * G * M;  // tap_matrices layout
  Buffer<T> total = conv_detail::parallel_sum<T>(
      g.batch * blocks, cost, size, [&](int64_t begin, int64_t end, T* acc) {
        Buffer<T> in((R - 1) * sh * L.Wp * Cin + L.span_h * L.Wp * Cin);
        Buffer<T> dyb(R * L.Wx * Cout);
        for (int64_t item = begin; item < end; ++item) {
          const int64_t n = item / blocks, i0 = (item % blocks) * R;
          const int64_t rows = std::min(R, g.out_h - i0);
          pack_rows(x + n * Cin * g.in_h * g.in_w, Cin, g.in_h, g.in_w, g.pad_top, g.pad_left,
                    i0 * sh, (i0 + rows - 1) * sh + L.span_h, L.Wp, in.data());
          pack_rows(dy + n * Cout * g.out_h * g.out_w, Cout, g.out_h, g.out_w, 0, 0, i0, i0 + rows,
                    L.Wx, dyb.data());  // slack pixels zero
          for (int64_t p = 0; p < g.kernel_h; ++p)
            for (int64_t q = 0; q < g.kernel_w; ++q) {
              const T* tap_in = in.data() + (p * g.dilation_h * L.Wp + q * g.dilation_w) * Cin;
              T* tap_dw = acc + (p * g.kernel_w + q) * g.groups * G * M;
              // dW_pq += in[r*sh + p*dh, j*sw + q*dw, :]^T * dy[r, j, :] for P pixels from row r
              auto one = [&](int64_t r, int64_t P) {
                const T* a = tap_in + r * sh * L.Wp * Cin;
                const T* e = dyb.data() + r * L.Wx * Cout;
                if (depthwise) return depthwise_gram(a, sw * Cin, e, Cout, P, Cout, tap_dw);
                for (int64_t group = 0; group < g.groups; ++group)
                  gemm.gram(a + group * G, sw * Cin, e + group * M, Cout, P,
                            tap_dw + group * G * M);
              };
              if (L.merged) {
                one(0, (rows - 1) * L.Wx + g.out_w);
              } else {
                for (int64_t r = 0; r < rows; ++r) one(r, g.out_w);
              }
            }
        }
      });
  for (int64_t o = 0; o < g.out_channels; ++o)
    for (int64_t c = 0; c < G; ++c)
      for (int64_t p = 0; p < g.kernel_h; ++p)
        for (int64_t q = 0; q < g.kernel_w; ++q) {
          const int64_t group = o / M;
          dw[((o * G + c) * g.kernel_h + p) * g.kernel_w + q] =
              total[(((p * g.kernel_w + q) * g.groups + group) * G + c) * M + (o - group * M)];
        }
}

}  // namespace

Tensor conv2d_forward_shiftgemm(const Tensor& x, const Tensor& w, const Tensor& b,
                                const ConvGeometry& g) {
  Tensor y = empty(g.output_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    forward(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
            y.data_ptr<scalar_t>(), g);
  });
  return y;
}

Tensor conv2d_grad_input_shiftgemm(const Tensor& dy, const Tensor& w, const Tensor& b,
                                   const ConvGeometry& g) {
  Tensor dx = empty(g.input_shape(), dtype(dy.dtype()));
  GB_DISPATCH_FLOAT(dy.dtype(), "conv2d", [&] {
    grad_input(dy.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
               dx.data_ptr<scalar_t>(), g);
  });
  return dx;
}

Tensor conv2d_grad_weight_shiftgemm(const Tensor& x, const Tensor& dy, const ConvGeometry& g) {
  Tensor dw = empty(g.weight_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    grad_weight(x.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(), g);
  });
  return dw;
}

}  // namespace glassbox::cpu
