#include "flatclr/data/augment_image.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "flatclr/core/error.h"

namespace flatclr::data {

namespace {

// Taps of a 1-D antialiased bilinear resize (ATen's _compute_indices_weights_aa = PIL's precompute_coeffs
// with the triangle filter): output i reads `count` inputs from first[i] with weights w[i * max_taps + k].
struct Taps {
  std::vector<int64_t> first, count;
  std::vector<float> w;
  int64_t max_taps = 0;
};

void make_taps(int64_t in, int64_t out, Taps& t) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double support = scale >= 1.0 ? scale : 1.0;  // interp_size / 2 = 1 for bilinear
  const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  t.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.w.assign(static_cast<size_t>(out * t.max_taps), 0.0f);
  std::vector<double> ws(t.max_taps);
  for (int64_t i = 0; i < out; ++i) {
    const double center = scale * (static_cast<double>(i) + 0.5);
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t xsize = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in) - xmin;
    double total = 0;
    int64_t n = std::min(xsize, t.max_taps);
    for (int64_t j = 0; j < n; ++j) {
      const double x = std::abs((static_cast<double>(j + xmin) - center + 0.5) * invscale);
      ws[j] = x < 1.0 ? 1.0 - x : 0.0;
      total += ws[j];
    }
    t.first[i] = xmin;
    t.count[i] = n;
    for (int64_t j = 0; j < n; ++j)
      t.w[i * t.max_taps + j] = static_cast<float>(total != 0.0 ? ws[j] / total : 0.0);
  }
}

// out[x] = sum_t k[t] * src[t][x] for a symmetric kernel of radius rad (k[t] = k[2 rad - t]), in blocks of
// 16 columns held in registers: (src[t] + src[2 rad - t]) * k[t] halves the multiplications.
void symmetric_taps(const float* const* src, const float* k, int64_t rad, int64_t n, float* __restrict out) {
  constexpr int64_t B = 16;
  int64_t x0 = 0;
  for (; x0 + B <= n; x0 += B) {
    float acc[B];
    const float* mid = src[rad] + x0;
    for (int64_t j = 0; j < B; ++j) acc[j] = k[rad] * mid[j];
    for (int64_t t = 0; t < rad; ++t) {
      const float* a = src[t] + x0;
      const float* b = src[2 * rad - t] + x0;
      const float kt = k[t];
      for (int64_t j = 0; j < B; ++j) acc[j] += kt * (a[j] + b[j]);
    }
    for (int64_t j = 0; j < B; ++j) out[x0 + j] = acc[j];
  }
  for (; x0 < n; ++x0) {
    float acc = k[rad] * src[rad][x0];
    for (int64_t t = 0; t < rad; ++t) acc += k[t] * (src[t][x0] + src[2 * rad - t][x0]);
    out[x0] = acc;
  }
}

inline float clamp01(float v) { return std::min(std::max(v, 0.0f), 1.0f); }

inline float gray_of(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

}  // namespace

AugmentConfig per_image_config(bool small_images, int64_t size, std::optional<double> color_jitter_strength) {
  AugmentConfig c =
      AugmentConfig::for_dataset(small_images ? "cifar10" : "imagenet", size, color_jitter_strength);
  c.blur = !small_images;  // the paper's per-image path: no blur for CIFAR (its batched path blurs cifar10)
  return c;
}

void resized_crop_aa(const ImageView& image, const std::array<int64_t, 4>& box, int64_t size, bool flip,
                     float* out) {
  const int64_t top = box[0], left = box[1], ch = box[2], cw = box[3];
  FLATCLR_CHECK(
      top >= 0 && left >= 0 && ch > 0 && cw > 0 && top + ch <= image.height && left + cw <= image.width,
      "crop box (", top, ", ", left, ", ", ch, ", ", cw, ") outside a ", image.height, "x", image.width,
      " image");
  thread_local Taps tx, ty;
  thread_local std::vector<float> tmp;
  make_taps(cw, size, tx);
  make_taps(ch, size, ty);
  const int64_t stride = image.width * 3, row_len = cw * 3;
  // Along the height first: `size` rows of the crop's interleaved RGB, values in [0, 255] (contiguous, so the
  // inner loop is vectorised; the order of the two passes changes the result only by rounding).
  tmp.resize(static_cast<size_t>(size * row_len));
  for (int64_t y = 0; y < size; ++y) {
    float* __restrict o = tmp.data() + y * row_len;
    std::fill(o, o + row_len, 0.0f);
    const float* w = ty.w.data() + y * ty.max_taps;
    for (int64_t k = 0; k < ty.count[y]; ++k) {
      const uint8_t* __restrict src = image.data + (top + ty.first[y] + k) * stride + left * 3;
      const float wk = w[k];
      for (int64_t j = 0; j < row_len; ++j) o[j] += wk * static_cast<float>(src[j]);
    }
  }
  // Along the width, the flip folded into the taps, planar output, and ToTensor's / 255.
  const int64_t plane = size * size;
  for (int64_t y = 0; y < size; ++y) {
    const float* row = tmp.data() + y * row_len;
    for (int64_t x = 0; x < size; ++x) {
      const int64_t xi = flip ? size - 1 - x : x;
      const float* p = row + tx.first[xi] * 3;
      const float* w = tx.w.data() + xi * tx.max_taps;
      float r = 0, g = 0, b = 0;
      for (int64_t k = 0; k < tx.count[xi]; ++k, p += 3) {
        r += w[k] * p[0];
        g += w[k] * p[1];
        b += w[k] * p[2];
      }
      const int64_t o = y * size + x;
      out[o] = clamp01(r * (1.0f / 255.0f));
      out[plane + o] = clamp01(g * (1.0f / 255.0f));
      out[2 * plane + o] = clamp01(b * (1.0f / 255.0f));
    }
  }
}

void brightness_planar(float* x, int64_t hw, float f) {
  for (int64_t i = 0; i < 3 * hw; ++i) x[i] = clamp01(f * x[i]);
}

void contrast_planar(float* x, int64_t hw, float f) {
  const float *r = x, *g = x + hw, *b = x + 2 * hw;
  double sum = 0;
  for (int64_t i = 0; i < hw; ++i) sum += gray_of(r[i], g[i], b[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(hw));
  const float m = (1.0f - f) * mean;
  for (int64_t i = 0; i < 3 * hw; ++i) x[i] = clamp01(f * x[i] + m);
}

void saturation_planar(float* x, int64_t hw, float f) {
  float *r = x, *g = x + hw, *b = x + 2 * hw;
  const float f1 = 1.0f - f;
  for (int64_t i = 0; i < hw; ++i) {
    const float m = f1 * gray_of(r[i], g[i], b[i]);
    r[i] = clamp01(f * r[i] + m);
    g[i] = clamp01(f * g[i] + m);
    b[i] = clamp01(f * b[i] + m);
  }
}

namespace {

// Lane helpers so one hue kernel serves a float and a 4-float vector (GCC/Clang vector extensions, which
// compile to SSE2 on x86-64 and NEON on arm64, with the same IEEE float operations as the scalar code).
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
template <class F, class E>
F splat(E c) {  // c in every lane
  if constexpr (std::is_arithmetic_v<F>)
    return static_cast<F>(c);
  else
    return F{} + c;
}
inline float sel(bool m, float a, float b) { return m ? a : b; }
inline F4 sel(I4 m, F4 a, F4 b) { return m ? a : b; }
inline int32_t sel(bool m, int32_t a, int32_t b) { return m ? a : b; }
inline I4 sel(I4 m, I4 a, I4 b) { return m ? a : b; }
inline int32_t trunc_int(float x) { return static_cast<int32_t>(x); }
inline I4 trunc_int(F4 x) { return __builtin_convertvector(x, I4); }
inline float to_float(int32_t x) { return static_cast<float>(x); }
inline F4 to_float(I4 x) { return __builtin_convertvector(x, F4); }
template <class F>
F max_of(F a, F b) {  // std::max: a < b ? b : a
  return sel(a < b, b, a);
}
template <class F>
F min_of(F a, F b) {  // std::min: b < a ? b : a
  return sel(b < a, b, a);
}
template <class F>
F clamp01_of(F v) {
  return min_of(max_of(v, splat<F>(0.0f)), splat<F>(1.0f));
}

// torchvision's adjust_hue on one pixel (or 4): _rgb2hsv op for op in float, h shifted mod 1, _hsv2rgb.
template <class F, class I>
void hue_kernel(F& r, F& g, F& b, float shift) {
  const F one = splat<F>(1.0f), zero = splat<F>(0.0f);
  const F maxc = max_of(max_of(r, g), b);
  const F minc = min_of(min_of(r, g), b);
  const auto eqc = maxc == minc;
  const F cr = maxc - minc;
  const F s = cr / sel(eqc, one, maxc);
  const F cr_divisor = sel(eqc, one, cr);
  const F rc = (maxc - r) / cr_divisor;
  const F gc = (maxc - g) / cr_divisor;
  const F bc = (maxc - b) / cr_divisor;
  // torchvision's masks as 0/1 factors, as it computes them (mask * value).
  const F mr = sel(maxc == r, one, zero);
  const F mg = sel((maxc == g) & (maxc != r), one, zero);
  const F mb = sel((maxc != g) & (maxc != r), one, zero);
  const F hr = mr * (bc - gc);
  const F hg = mg * ((2.0f + rc) - bc);
  const F hb = mb * ((4.0f + gc) - rc);
  // fmod(x, 1) for x = (hr + hg + hb) / 6 + 1 in [5/6, 2): x or x - 1, both exact (no libm call).
  F h = (hr + hg + hb) / 6.0f + 1.0f;
  h = h - sel(h >= 1.0f, one, zero);
  // (h + shift) - floor(h + shift) for values in (-1, 2) without the libm call: the same floats, except that
  // a sum rounding to exactly 1 becomes 0, which gives the same colour (sector 6 = sector 0 with f = 0).
  h = h + shift;
  h = h + sel(h < 0.0f, one, zero);
  h = h - sel(h >= 1.0f, one, zero);
  const F v = maxc;
  const F h6 = h * 6.0f;
  // floor (h6 >= 0); h6 may round up to 6, and sector 5 with f = 1 is the same colour as sector 0 with f = 0.
  const I sector = min_of(trunc_int(h6), splat<I>(5));
  const F f = h6 - to_float(sector);
  const F p = clamp01_of(v * (1.0f - s));
  const F q = clamp01_of(v * (1.0f - s * f));
  const F t = clamp01_of(v * (1.0f - s * (1.0f - f)));
  // r = (v, q, p, p, t, v)[sector], g = (t, v, v, q, p, p)[sector], b = (p, p, t, v, v, q)[sector].
  r = sel((sector == 0) | (sector == 5), v, sel(sector == 1, q, sel(sector == 4, t, p)));
  g = sel((sector == 1) | (sector == 2), v, sel(sector == 0, t, sel(sector == 3, q, p)));
  b = sel((sector == 3) | (sector == 4), v, sel(sector == 2, t, sel(sector == 5, q, p)));
}

}  // namespace

void hue_planar(float* x, int64_t hw, float shift) {
  float *rp = x, *gp = x + hw, *bp = x + 2 * hw;
  int64_t i = 0;
  for (; i + 4 <= hw; i += 4) {
    F4 r, g, b;
    std::memcpy(&r, rp + i, sizeof r);
    std::memcpy(&g, gp + i, sizeof g);
    std::memcpy(&b, bp + i, sizeof b);
    hue_kernel<F4, I4>(r, g, b, shift);
    std::memcpy(rp + i, &r, sizeof r);
    std::memcpy(gp + i, &g, sizeof g);
    std::memcpy(bp + i, &b, sizeof b);
  }
  for (; i < hw; ++i) hue_kernel<float, int32_t>(rp[i], gp[i], bp[i], shift);
}

void grayscale_planar(float* x, int64_t hw) {
  float *r = x, *g = x + hw, *b = x + 2 * hw;
  for (int64_t i = 0; i < hw; ++i) r[i] = gray_of(r[i], g[i], b[i]);
  std::copy(r, r + hw, g);
  std::copy(r, r + hw, b);
}

void gaussian_blur_planar(float* x, int64_t h, int64_t w, float sigma, int64_t kernel) {
  const int64_t rad = kernel / 2;
  FLATCLR_CHECK(kernel >= 1 && kernel % 2 == 1 && rad < h && rad < w, "gaussian blur: kernel ", kernel,
                " must be odd with radius < the image side (", h, "x", w, ")");
  // torchvision _get_gaussian_kernel1d in float.
  std::vector<float> k(static_cast<size_t>(kernel));
  float total = 0;
  for (int64_t t = 0; t < kernel; ++t) {
    const float xv = static_cast<float>(t - rad) / sigma;
    k[t] = std::exp(-0.5f * xv * xv);
    total += k[t];
  }
  for (auto& v : k) v /= total;
  // Taps beyond 6.2 sigma weigh < 5e-9 each (exp(-19.2) / total): they are left out (the kernel keeps
  // torchvision's normalisation), which changes the result by < 1e-7 and saves ~40% at sigma ~ U(0.1, 2).
  const int64_t re =
      std::min<int64_t>(rad, static_cast<int64_t>(std::ceil(6.2 * static_cast<double>(sigma))));
  const float* kc = k.data() + (rad - re);  // the kept taps, centre at kc[re]
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  thread_local std::vector<float> tmp, pad;
  thread_local std::vector<const float*> rows;
  tmp.resize(static_cast<size_t>(h * w));
  pad.resize(static_cast<size_t>(w + 2 * rad));
  rows.resize(static_cast<size_t>(kernel));
  for (int c = 0; c < 3; ++c) {
    float* plane = x + c * h * w;
    // Along the width into tmp (tap t reads pad + t).
    for (int64_t y = 0; y < h; ++y) {
      const float* row = plane + y * w;
      for (int64_t i = -rad; i < w + rad; ++i) pad[i + rad] = row[reflect(i, w)];
      for (int64_t t = 0; t <= 2 * re; ++t) rows[t] = pad.data() + (rad - re) + t;
      symmetric_taps(rows.data(), kc, re, w, tmp.data() + y * w);
    }
    // Along the height back into the plane (tap t reads row reflect(y + t - rad)).
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t t = 0; t <= 2 * re; ++t) rows[t] = tmp.data() + reflect(y + t - re, h) * w;
      float* o = plane + y * w;
      symmetric_taps(rows.data(), kc, re, w, o);
      for (int64_t xx = 0; xx < w; ++xx) o[xx] = clamp01(o[xx]);
    }
  }
}

void augment_view(const ImageView& image, const ViewDraw& d, const AugmentConfig& config, float* out) {
  const int64_t s = config.size, hw = s * s;
  resized_crop_aa(image, d.crop, s, d.flip, out);
  if (d.jitter && config.jitter_p > 0) {
    for (int k = 0; k < 4; ++k) {
      const int op = d.order[k];
      const float f = d.factors[op];
      switch (op) {
        case 0:
          if (config.brightness > 0) brightness_planar(out, hw, f);
          break;
        case 1:
          if (config.contrast > 0) contrast_planar(out, hw, f);
          break;
        case 2:
          if (config.saturation > 0) saturation_planar(out, hw, f);
          break;
        default:
          if (config.hue > 0) hue_planar(out, hw, f);
          break;
      }
    }
  }
  if (d.gray && config.gray_p > 0) grayscale_planar(out, hw);
  if (d.blur && config.blur && config.blur_p > 0)
    gaussian_blur_planar(out, s, s, d.sigma, config.blur_kernel);
}

}  // namespace flatclr::data
