// Flat convolution: the direct sum, over channel planes read as flat vectors, for few
// channels. Pad each input channel plane with zeros to Hp x Wp and read it as one flat run.
// A kernel tap (p, q) is then a fixed offset, off[t] = p*dh*Wp + q*dw, and the stride-1
// convolution is one sum of shifted runs:
//
//   y1[o, k] = sum_{c, t} w[o, c, t] * x[c, k + off[t]]          k = i*Wp + j
//
// evaluated for every k from the first output to the last, straight across row ends: the
// Wp - W1 positions at the end of each row that are not outputs are computed and dropped
// (2 of every 28 on MNIST). So whatever the image width, the innermost loop is one long
// contiguous run per tap, every vector load is full, and no im2col or channels-last copy
// is made. A block of up to 8 output channels keeps its accumulators in registers while
// every tap of every input channel streams past: the few-channel case that GEMM-based
// algorithms waste most of their time packing for.
//
// The backward passes are the same sums rearranged, on the same flat grid:
//   dx[c, k]    = sum_{o, t} w[o, c, t] * dy1[o, k - off[t]]    (dy1: dy on the stride-1
//   dw[o, c, t] = sum_k dy1[o, k] * x[c, k + off[t]]             grid, zero elsewhere)
// Stride s > 1 computes the stride-1 grid and keeps every s-th output (forward), or puts dy
// on that grid with zeros between (backward): right for every stride, but sh*sw times the
// work, so Auto picks Flat for stride 1 only. Groups are independent problems, one work item
// each. Work items are blocks of rows of one image and group; grad_weight adds per-thread
// partial sums in a fixed order, so results do not depend on thread timing.
// The dropped positions multiply real data by zero, so with an inf or NaN in the input (or a
// weight), 0 * inf can make a gradient NaN where Direct's is finite, as with ShiftGemm;
// finite data gives the same results as Direct, to rounding.
#include "core/cpu/conv_cpu.h"
#include "core/cpu/simd.h"

namespace glassbox::cpu {
namespace {
using conv_detail::Buffer;
using conv_detail::ceil_div;
using conv_detail::data_or_null;
using simd::load;
using simd::load_partial;
using simd::Mask;
using simd::Simd;
using simd::store;
using simd::Vec;

constexpr int kBlock = 8;  // channels per register block

// ---- the two micro-kernels. `off` holds the taps' flat offsets; w and dw are laid out
// [NB][S][taps]; src holds S flat runs `cs` elements apart and may be read up to `end`.
// The last strip of a run is partial: its loads read full vectors where src allows (lanes
// past the run are garbage there, and are either never stored or masked to zero), so that
// MNIST's short runs (68 outputs on an 8x8 plane: four and a quarter vectors) do not pay a
// scalar tail. Output rows (dst, and e in tap_gram) are `ld` apart, a multiple of the
// vector width, with the padding zero in e.

template <class T>
inline Vec<T> load_upto(const T* p, int n, const T* end) {
  return p + Simd<T>::kWidth <= end ? load(p) : load_partial(p, n);
}

// dst[b*ld + k] = init[b] + sum_{s < S, t < taps} w[(b*S + s)*taps + t] * src[s*cs + k + off[t]]
// for U vectors of k from k0 (the last one n lanes wide when not Full); init null means 0.
// Each weight, broadcast once, serves U vectors. A partial vector stores all its lanes, into
// dst's row padding, unless `exact`.
template <class T, int NB, int U, bool Full>
inline void sum_strip(const T* src, int64_t cs, int64_t S, const int64_t* off, int64_t taps,
                      const T* w, const T* init, T* dst, int64_t ld, int64_t k0, int n,
                      const T* end, bool exact) {
  constexpr int W = Simd<T>::kWidth;
  Vec<T> acc[NB][U];
  for (int b = 0; b < NB; ++b)
    for (int u = 0; u < U; ++u) acc[b][u] = Vec<T>{} + (init ? init[b] : T(0));
  const int64_t wstride = S * taps;
  for (int64_t s = 0; s < S; ++s) {
    const T* sp = src + s * cs + k0;
    const T* ws = w + s * taps;
    for (int64_t t = 0; t < taps; ++t) {
      Vec<T> xv[U];
      for (int u = 0; u < U; ++u) {
        const T* p = sp + off[t] + u * W;
        xv[u] = (Full || u + 1 < U) ? load(p) : load_upto(p, n, end);
      }
      for (int b = 0; b < NB; ++b) {
        const T wv = ws[b * wstride + t];
        for (int u = 0; u < U; ++u) acc[b][u] += wv * xv[u];
      }
    }
  }
  for (int b = 0; b < NB; ++b)
    for (int u = 0; u < U; ++u)
      store(dst + b * ld + k0 + u * W, acc[b][u], (Full || u + 1 < U || !exact) ? W : n);
}

template <class T, int NB>
void tap_sum(const T* src, int64_t cs, int64_t S, const int64_t* off, int64_t taps, const T* w,
             const T* init, T* dst, int64_t ld, int64_t len, const T* end, bool exact) {
  constexpr int W = Simd<T>::kWidth;
  // NB*U accumulators + U loads + a broadcast within the registers, at most 4 vectors
  constexpr int U = std::max(1, std::min(4, (simd::kVectorRegisters - 1) / (NB + 1)));
  int64_t k = 0;
  for (; k + U * W <= len; k += U * W)
    sum_strip<T, NB, U, true>(src, cs, S, off, taps, w, init, dst, ld, k, W, end, exact);
  for (; k + W <= len; k += W)
    sum_strip<T, NB, 1, true>(src, cs, S, off, taps, w, init, dst, ld, k, W, end, exact);
  if (k < len)
    sum_strip<T, NB, 1, false>(src, cs, S, off, taps, w, init, dst, ld, k,
                               static_cast<int>(len - k), end, exact);
}

// dwv[b*bstride + u] += sum over k < len of e[b*ld + k] * src[k + off[u]], per lane, for
// b < NB, u < TB: vector partial sums, added across lanes only once per thread (lane sums per
// work item would cost as much as the products on MNIST's small planes).
template <class T, int NB, int TB>
void gram_taps(const T* e, int64_t ld, int64_t len, const T* src, const int64_t* off, Vec<T>* dwv,
               int64_t bstride, const T* end) {
  constexpr int W = Simd<T>::kWidth;
  Vec<T> acc[NB][TB];
  for (int b = 0; b < NB; ++b)
    for (int u = 0; u < TB; ++u) acc[b][u] = Vec<T>{};
  auto strip = [&](int64_t k, int n, auto full) {
    Vec<T> ev[NB];
    for (int b = 0; b < NB; ++b) ev[b] = load(e + b * ld + k);  // zero past len
    Mask<T> keep = {};  // the tail's lanes < n: src past the run may hold inf or NaN
    if (!full)
      for (int l = 0; l < n; ++l) keep[l] = -1;
    for (int u = 0; u < TB; ++u) {
      const T* p = src + k + off[u];
      Vec<T> xv = full ? load(p) : load_upto(p, n, end);
      if (!full) xv = keep ? xv : Vec<T>{};
      for (int b = 0; b < NB; ++b) acc[b][u] += ev[b] * xv;
    }
  };
  int64_t k = 0;
  for (; k + W <= len; k += W) strip(k, W, std::true_type{});
  if (k < len) strip(k, static_cast<int>(len - k), std::false_type{});
  for (int b = 0; b < NB; ++b)
    for (int u = 0; u < TB; ++u) dwv[b * bstride + u] += acc[b][u];
}

// gram_taps for a runtime tap count nt in 1..TB.
template <class T, int NB, int TB>
void gram_some_taps(int64_t nt, const T* e, int64_t ld, int64_t len, const T* src,
                    const int64_t* off, Vec<T>* dwv, int64_t bstride, const T* end) {
  if constexpr (TB > 1) {
    if (nt < TB) return gram_some_taps<T, NB, TB - 1>(nt, e, ld, len, src, off, dwv, bstride, end);
  }
  gram_taps<T, NB, TB>(e, ld, len, src, off, dwv, bstride, end);
}

// Taps per pass for NB channels: as many as fit in the vector registers with the NB*TB
// accumulators, the NB loads of e and one of src (with 32 registers: all 9 taps of a 3x3
// kernel up to NB = 3, 4 at NB = 6).
constexpr int taps_per_pass(int nb) {
  return std::max(1, std::min(9, (simd::kVectorRegisters - nb - 1) / nb));
}

// dwv[(b*S + s)*taps + t] += sum_{k < len} e[b*ld + k] * src[s*cs + k + off[t]] (per lane)
template <class T, int NB>
void tap_gram(const T* e, int64_t ld, const T* src, int64_t cs, int64_t S, const int64_t* off,
              int64_t taps, Vec<T>* dwv, int64_t len, const T* end) {
  constexpr int TB = taps_per_pass(NB);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t t0 = 0; t0 < taps; t0 += TB)
      gram_some_taps<T, NB, TB>(std::min<int64_t>(TB, taps - t0), e, ld, len, src + s * cs,
                                off + t0, dwv + s * taps + t0, S * taps, end);
}

// Calls f(std::integral_constant<int, nb>) for a runtime block size nb in 1..kBlock, so the
// micro-kernels get their channel count at compile time.
template <class F>
void for_block(int64_t nb, F&& f) {
  switch (nb) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 5:
      return f(std::integral_constant<int, 5>{});
    case 6:
      return f(std::integral_constant<int, 6>{});
    case 7:
      return f(std::integral_constant<int, 7>{});
    default:
      return f(std::integral_constant<int, 8>{});
  }
}
static_assert(kBlock == 8, "for_block enumerates 1..kBlock");

// ---- geometry of the flat grid

struct Plan {
  int64_t Hp = 0, Wp = 0;          // padded input plane
  int64_t span_h = 0, span_w = 0;  // the dilated kernel
  int64_t H1 = 0, W1 = 0;          // the stride-1 output grid that covers every output
  std::vector<int64_t> off;        // flat offset of each tap, row-major over (p, q)
  int64_t reach = 0;               // the last tap's offset
  bool in_place = false;           // no padding: the input planes are the padded planes
};

Plan plan_of(const ConvGeometry& g) {
  Plan P;
  P.span_h = (g.kernel_h - 1) * g.dilation_h + 1;
  P.span_w = (g.kernel_w - 1) * g.dilation_w + 1;
  P.H1 = (g.out_h - 1) * g.stride_h + 1;
  P.W1 = (g.out_w - 1) * g.stride_w + 1;
  P.Hp = std::max(g.pad_top + g.in_h, P.H1 - 1 + P.span_h);
  P.Wp = std::max(g.pad_left + g.in_w, P.W1 - 1 + P.span_w);
  for (int64_t p = 0; p < g.kernel_h; ++p)
    for (int64_t q = 0; q < g.kernel_w; ++q)
      P.off.push_back(p * g.dilation_h * P.Wp + q * g.dilation_w);
  P.reach = P.off.back();
  P.in_place = g.pad_top == 0 && g.pad_left == 0 && P.Hp == g.in_h && P.Wp == g.in_w;
  return P;
}

// Rows per work item: the item's flat runs (`elements_per_row` per row) stay around 128 KiB
// of float32, well inside L2, and there are about four items per thread.
int64_t block_rows(int64_t total_rows, int64_t elements_per_row, int64_t planes) {
  int64_t rows = std::max<int64_t>(1, 32 * 1024 / std::max<int64_t>(1, elements_per_row));
  const int64_t want_blocks = ceil_div(4 * get_num_threads(), std::max<int64_t>(1, planes));
  rows = std::min(rows, std::max<int64_t>(1, ceil_div(total_rows, want_blocks)));
  return std::min(rows, std::max<int64_t>(1, total_rows));
}

// Rows [r0, r1) of the zero-padded planes of channels [c0, c0 + C) of one image `img`, as C
// flat runs `cs` elements apart, readable up to `end`: x itself (which ends at x_end) when it
// needs no padding, else a copy in buf.
template <class T>
const T* padded_rows(const T* img, const T* x_end, const ConvGeometry& g, const Plan& P, int64_t c0,
                     int64_t C, int64_t r0, int64_t r1, Buffer<T>& buf, int64_t& cs,
                     const T*& end) {
  const int64_t plane = g.in_h * g.in_w;
  if (P.in_place) {
    cs = plane;
    end = x_end;
    return img + c0 * plane + r0 * g.in_w;
  }
  cs = (r1 - r0) * P.Wp;
  buf.assign(static_cast<size_t>(C * cs + Simd<T>::kWidth), T(0));
  end = buf.data() + buf.size();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = std::max(r0, g.pad_top); r < std::min(r1, g.pad_top + g.in_h); ++r) {
      const T* s = img + (c0 + c) * plane + (r - g.pad_top) * g.in_w;
      std::copy(s, s + g.in_w, buf.data() + c * cs + (r - r0) * P.Wp + g.pad_left);
    }
  return buf.data();
}

// dy rows [i0, i1) of channels [o0, o0 + C) of one image, placed on the flat stride-1 grid
// positions [base, base + len) (grid row i*sh, column j*sw), zero elsewhere: C runs `pitch`
// >= len apart, and a vector of zeros after the last.
template <class T>
void grid_rows(const T* dy_img, const ConvGeometry& g, const Plan& P, int64_t o0, int64_t C,
               int64_t i0, int64_t i1, int64_t base, int64_t len, int64_t pitch, Buffer<T>& buf) {
  const size_t size = static_cast<size_t>(C * pitch + Simd<T>::kWidth);
  const int64_t plane = g.out_h * g.out_w;
  if (g.stride_h != 1 || g.stride_w != 1) {
    buf.assign(size, T(0));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = i0; i < i1; ++i) {
        const T* s = dy_img + (o0 + c) * plane + i * g.out_w;
        T* d = buf.data() + c * pitch;
        const int64_t at = i * g.stride_h * P.Wp - base;  // position of (i, 0)
        for (int64_t j = 0; j < g.out_w; ++j) {
          const int64_t k = at + j * g.stride_w;
          if (k >= 0 && k < len) d[k] = s[j];
        }
      }
    return;
  }
  // stride 1: each row is one run; write it and zero only the gaps between runs, so every
  // element is written once (this runs for every image of every backward pass)
  buf.resize(size);
  for (int64_t c = 0; c < C; ++c) {
    T* d = buf.data() + c * pitch;
    int64_t filled = 0;  // d[0, filled) is written
    for (int64_t i = i0; i < i1; ++i) {
      const T* s = dy_img + (o0 + c) * plane + i * g.out_w;
      const int64_t at = i * P.Wp - base;
      const int64_t lo = std::max<int64_t>(at, 0), hi = std::min(at + g.out_w, len);
      if (lo >= hi) continue;
      for (int64_t k = filled; k < lo; ++k) d[k] = T(0);
      for (int64_t k = lo; k < hi; ++k) d[k] = s[k - at];
      filled = hi;
    }
    const int64_t stop = c + 1 < C ? pitch : pitch + Simd<T>::kWidth;
    for (int64_t k = filled; k < stop; ++k) d[k] = T(0);
  }
}

// ---- the three passes

int64_t padded_to_vectors(int64_t len, int width) { return ceil_div(len, width) * width; }

template <class T>
void forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  const Plan P = plan_of(g);
  const int64_t G = g.in_per_group(), M = g.out_per_group(), taps = g.kernel_h * g.kernel_w;
  const int64_t sh = g.stride_h, sw = g.stride_w, mb = std::min<int64_t>(M, kBlock);
  const int64_t R = block_rows(g.out_h, (G + mb) * sh * P.Wp, g.batch * g.groups);
  const int64_t blocks = ceil_div(g.out_h, R);
  const T* x_end = x + g.batch * g.in_channels * g.in_h * g.in_w;
  // Wide rows (the notebook's 1600-pixel image): each row is many vectors long, so it is
  // computed straight into y with the bias as the accumulators' start, skipping the flat
  // buffer and the copy out of it. Narrow rows (MNIST's 26) run flat across row ends.
  const bool rows_direct = sh == 1 && sw == 1 && g.out_w >= 4 * Simd<T>::kWidth;
  parallel_for(
      g.batch * g.groups * blocks, R * g.out_w * M * G * taps, [&](int64_t b0, int64_t b1) {
        Buffer<T> xbuf, ybuf;
        for (int64_t item = b0; item < b1; ++item) {
          const int64_t n = item / (g.groups * blocks), group = item / blocks % g.groups;
          const int64_t i0 = item % blocks * R, i1 = std::min(g.out_h, i0 + R);
          int64_t cs = 0;
          const T* end = nullptr;
          const T* src =
              padded_rows(x + n * g.in_channels * g.in_h * g.in_w, x_end, g, P, group * G, G,
                          i0 * sh, (i1 - 1) * sh + P.span_h, xbuf, cs, end);
          const int64_t len = (i1 - 1 - i0) * sh * P.Wp + P.W1;  // flat outputs of rows [i0, i1)
          const int64_t ld = padded_to_vectors(len, Simd<T>::kWidth);
          if (!rows_direct) ybuf.resize(static_cast<size_t>(mb * ld));
          for (int64_t o0 = 0; o0 < M; o0 += kBlock) {
            const int64_t nb = std::min<int64_t>(kBlock, M - o0), o = group * M + o0;
            if (rows_direct) {  // each output row straight into y, bias included
              for (int64_t i = i0; i < i1; ++i)
                for_block(nb, [&](auto NB) {
                  tap_sum<T, decltype(NB)::value>(
                      src + (i - i0) * P.Wp, cs, G, P.off.data(), taps, w + o * G * taps,
                      b ? b + o : nullptr, y + ((n * g.out_channels + o) * g.out_h + i) * g.out_w,
                      g.out_h * g.out_w, g.out_w, end, true);
                });
              continue;
            }
            for_block(nb, [&](auto NB) {
              tap_sum<T, decltype(NB)::value>(src, cs, G, P.off.data(), taps, w + o * G * taps,
                                              static_cast<const T*>(nullptr), ybuf.data(), ld, len,
                                              end, false);
            });
            for (int64_t m = 0; m < nb; ++m) {
              const T bias = b ? b[o + m] : T(0);
              T* yo = y + ((n * g.out_channels + o + m) * g.out_h) * g.out_w;
              for (int64_t i = i0; i < i1; ++i) {
                const T* s = ybuf.data() + m * ld + (i - i0) * sh * P.Wp;
                T* d = yo + i * g.out_w;
                if (sw == 1) {  // the common case, as its own loop so that it vectorises
                  for (int64_t j = 0; j < g.out_w; ++j) d[j] = s[j] + bias;
                } else {
                  for (int64_t j = 0; j < g.out_w; ++j) d[j] = s[j * sw] + bias;
                }
              }
            }
          }
        }
      });
}

template <class T>
void grad_input(const T* dy, const T* w, const T* b, T* dx, const ConvGeometry& g) {
  const Plan P = plan_of(g);
  const int64_t G = g.in_per_group(), M = g.out_per_group(), taps = g.kernel_h * g.kernel_w;
  const int64_t cb = std::min<int64_t>(G, kBlock);
  // weights as [group][c][m][t], so a block of input channels reads them like forward does
  Buffer<T> wt(static_cast<size_t>(g.groups * G * M * taps));
  for (int64_t group = 0; group < g.groups; ++group)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t c = 0; c < G; ++c)
        for (int64_t t = 0; t < taps; ++t)
          wt[((group * G + c) * M + m) * taps + t] = w[((group * M + m) * G + c) * taps + t];
  std::vector<int64_t> back(P.off.size());  // dx[k] reads dy1[k - off[t]]
  for (size_t t = 0; t < back.size(); ++t) back[t] = -P.off[t];
  // items: blocks of rows of the padded dx that lie inside the image
  const int64_t R = block_rows(g.in_h, (M + cb) * P.Wp, g.batch * g.groups);
  const int64_t blocks = ceil_div(g.in_h, R);
  parallel_for(g.batch * g.groups * blocks, R * g.in_w * M * G * taps, [&](int64_t b0, int64_t b1) {
    Buffer<T> dyz, xbuf;
    for (int64_t item = b0; item < b1; ++item) {
      const int64_t n = item / (g.groups * blocks), group = item / blocks % g.groups;
      const int64_t r0 = g.pad_top + item % blocks * R;
      const int64_t r1 = std::min(g.pad_top + g.in_h, r0 + R);
      // dy1 on flat positions [base, base + dlen): all that dx rows [r0, r1) read
      const int64_t base = r0 * P.Wp - P.reach, dlen = P.reach + (r1 - r0) * P.Wp;
      const int64_t i_lo = std::max<int64_t>(0, ceil_div(r0 - P.span_h + 1, g.stride_h));
      const int64_t i_hi = std::min(g.out_h, ceil_div(r1, g.stride_h));
      grid_rows(dy + n * g.out_channels * g.out_h * g.out_w, g, P, group * M, M, i_lo,
                std::max(i_lo, i_hi), base, dlen, dlen, dyz);
      // dx over columns [pad_left, pad_left + in_w) of rows [r0, r1)
      const int64_t len = (r1 - r0 - 1) * P.Wp + g.in_w;
      const int64_t ld = padded_to_vectors(len, Simd<T>::kWidth);
      xbuf.resize(static_cast<size_t>(cb * ld));
      for (int64_t c0 = 0; c0 < G; c0 += kBlock) {
        const int64_t nb = std::min<int64_t>(kBlock, G - c0), c = group * G + c0;
        for_block(nb, [&](auto NB) {
          tap_sum<T, decltype(NB)::value>(dyz.data() + P.reach + g.pad_left, dlen, M, back.data(),
                                          taps, wt.data() + c * M * taps,
                                          static_cast<const T*>(nullptr), xbuf.data(), ld, len,
                                          dyz.data() + dyz.size(), false);
        });
        for (int64_t u = 0; u < nb; ++u) {
          const T bias = b ? b[c + u] : T(0);
          T* dxc = dx + ((n * g.in_channels + c + u) * g.in_h + (r0 - g.pad_top)) * g.in_w;
          for (int64_t r = 0; r < r1 - r0; ++r) {
            const T* s = xbuf.data() + u * ld + r * P.Wp;
            T* d = dxc + r * g.in_w;
            for (int64_t j = 0; j < g.in_w; ++j) d[j] = s[j] + bias;
          }
        }
      }
    }
  });
}

template <class T>
void grad_weight(const T* x, const T* dy, T* dw, const ConvGeometry& g) {
  const Plan P = plan_of(g);
  const int64_t G = g.in_per_group(), M = g.out_per_group(), taps = g.kernel_h * g.kernel_w;
  const int64_t sh = g.stride_h, mb = std::min<int64_t>(M, kBlock);
  const int64_t R = block_rows(g.out_h, (G + mb) * sh * P.Wp, g.batch * g.groups);
  const int64_t blocks = ceil_div(g.out_h, R);
  const int64_t size = g.out_channels * G * taps;  // dw's own layout [C_out, G, kH, kW]
  const T* x_end = x + g.batch * g.in_channels * g.in_h * g.in_w;
  Buffer<T> total = conv_detail::parallel_sum<T>(
      g.batch * g.groups * blocks, R * g.out_w * M * G * taps, size,
      [&](int64_t b0, int64_t b1, T* acc) {
        Buffer<T> xbuf, dyz;
        Buffer<Vec<T>> vacc(static_cast<size_t>(size), Vec<T>{});
        for (int64_t item = b0; item < b1; ++item) {
          const int64_t n = item / (g.groups * blocks), group = item / blocks % g.groups;
          const int64_t i0 = item % blocks * R, i1 = std::min(g.out_h, i0 + R);
          int64_t cs = 0;
          const T* end = nullptr;
          const T* src =
              padded_rows(x + n * g.in_channels * g.in_h * g.in_w, x_end, g, P, group * G, G,
                          i0 * sh, (i1 - 1) * sh + P.span_h, xbuf, cs, end);
          const int64_t len = (i1 - 1 - i0) * sh * P.Wp + P.W1;
          const int64_t ld = padded_to_vectors(len, Simd<T>::kWidth);
          grid_rows(dy + n * g.out_channels * g.out_h * g.out_w, g, P, group * M, M, i0, i1,
                    i0 * sh * P.Wp, len, ld, dyz);
          for (int64_t o0 = 0; o0 < M; o0 += kBlock) {
            const int64_t nb = std::min<int64_t>(kBlock, M - o0), o = group * M + o0;
            for_block(nb, [&](auto NB) {
              tap_gram<T, decltype(NB)::value>(dyz.data() + o0 * ld, ld, src, cs, G, P.off.data(),
                                               taps, vacc.data() + o * G * taps, len, end);
            });
          }
        }
        for (int64_t i = 0; i < size; ++i) acc[i] += simd::lane_sum<T>(vacc[i]);
      });
  std::copy(total.begin(), total.end(), dw);
}

}  // namespace

Tensor conv2d_forward_flat(const Tensor& x, const Tensor& w, const Tensor& b,
                           const ConvGeometry& g) {
  Tensor y = empty(g.output_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    forward(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
            y.data_ptr<scalar_t>(), g);
  });
  return y;
}

Tensor conv2d_grad_input_flat(const Tensor& dy, const Tensor& w, const Tensor& b,
                              const ConvGeometry& g) {
  Tensor dx = empty(g.input_shape(), dtype(dy.dtype()));
  GB_DISPATCH_FLOAT(dy.dtype(), "conv2d", [&] {
    grad_input(dy.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), data_or_null<scalar_t>(b),
               dx.data_ptr<scalar_t>(), g);
  });
  return dx;
}

Tensor conv2d_grad_weight_flat(const Tensor& x, const Tensor& dy, const ConvGeometry& g) {
  Tensor dw = empty(g.weight_shape(), dtype(x.dtype()));
  GB_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
    grad_weight(x.data_ptr<scalar_t>(), dy.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(), g);
  });
  return dw;
}

}  // namespace glassbox::cpu
