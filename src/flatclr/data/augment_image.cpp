#include "flatclr/data/augment_image.h"

#include <algorithm>
#include <cmath>
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

inline float clamp01(float v) { return std::min(std::max(v, 0.0f), 1.0f); }

inline float gray_of(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

}  // namespace

AugmentConfig per_image_config(bool small_images, int64_t size) {
  AugmentConfig c = AugmentConfig::for_dataset(small_images ? "cifar10" : "imagenet", size);
  c.blur = !small_images;  // §6.1: no blur for CIFAR (the batched path blurs cifar10, §6.2)
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
  const int64_t stride = image.width * 3;
  tmp.resize(static_cast<size_t>(3 * ch * size));
  float* t0 = tmp.data();
  float* t1 = t0 + ch * size;
  float* t2 = t1 + ch * size;
  // Along the width: crop rows -> planar [3, ch, size], values in [0, 255].
  for (int64_t y = 0; y < ch; ++y) {
    const uint8_t* row = image.data + (top + y) * stride + left * 3;
    for (int64_t x = 0; x < size; ++x) {
      const int64_t xi = flip ? size - 1 - x : x;
      const uint8_t* p = row + tx.first[xi] * 3;
      const float* w = tx.w.data() + xi * tx.max_taps;
      float r = 0, g = 0, b = 0;
      for (int64_t k = 0; k < tx.count[xi]; ++k, p += 3) {
        r += w[k] * p[0];
        g += w[k] * p[1];
        b += w[k] * p[2];
      }
      t0[y * size + x] = r;
      t1[y * size + x] = g;
      t2[y * size + x] = b;
    }
  }
  // Along the height, and ToTensor's / 255.
  const int64_t plane = size * size;
  for (int c = 0; c < 3; ++c) {
    const float* src = tmp.data() + c * ch * size;
    float* dst = out + c * plane;
    for (int64_t y = 0; y < size; ++y) {
      float* o = dst + y * size;
      std::fill(o, o + size, 0.0f);
      const float* w = ty.w.data() + y * ty.max_taps;
      for (int64_t k = 0; k < ty.count[y]; ++k) {
        const float* s = src + (ty.first[y] + k) * size;
        const float wk = w[k];
        for (int64_t x = 0; x < size; ++x) o[x] += wk * s[x];
      }
      for (int64_t x = 0; x < size; ++x) o[x] = clamp01(o[x] * (1.0f / 255.0f));
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

void hue_planar(float* x, int64_t hw, float shift) {
  float *rp = x, *gp = x + hw, *bp = x + 2 * hw;
  for (int64_t i = 0; i < hw; ++i) {
    const float r = rp[i], g = gp[i], b = bp[i];
    // torchvision _rgb2hsv, op for op in float.
    const float maxc = std::max(std::max(r, g), b);
    const float minc = std::min(std::min(r, g), b);
    const bool eqc = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (eqc ? 1.0f : maxc);
    const float cr_divisor = eqc ? 1.0f : cr;
    const float rc = (maxc - r) / cr_divisor;
    const float gc = (maxc - g) / cr_divisor;
    const float bc = (maxc - b) / cr_divisor;
    const float hr = maxc == r ? bc - gc : 0.0f;
    const float hg = (maxc == g && maxc != r) ? (2.0f + rc) - bc : 0.0f;
    const float hb = (maxc != g && maxc != r) ? (4.0f + gc) - rc : 0.0f;
    // fmod(x, 1) for x = (hr + hg + hb) / 6 + 1 in [5/6, 2): x or x - 1, both exact (no libm call).
    float h = (hr + hg + hb) / 6.0f + 1.0f;
    h = h >= 1.0f ? h - 1.0f : h;
    h = h + shift;
    // h - floor(h) for h in (-1, 2): the same float operations without the libm call.
    h = h < 0.0f ? h + 1.0f : (h >= 1.0f ? h - 1.0f : h);
    // torchvision _hsv2rgb.
    const float v = maxc;
    const float h6 = h * 6.0f;
    const int i6 = static_cast<int>(h6);  // floor: h6 >= 0
    const float f = h6 - static_cast<float>(i6);
    const int sector = i6 % 6;
    const float p = clamp01(v * (1.0f - s));
    const float q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    switch (sector) {
      case 0:
        rp[i] = v, gp[i] = t, bp[i] = p;
        break;
      case 1:
        rp[i] = q, gp[i] = v, bp[i] = p;
        break;
      case 2:
        rp[i] = p, gp[i] = v, bp[i] = t;
        break;
      case 3:
        rp[i] = p, gp[i] = q, bp[i] = v;
        break;
      case 4:
        rp[i] = t, gp[i] = p, bp[i] = v;
        break;
      default:
        rp[i] = v, gp[i] = p, bp[i] = q;
        break;
    }
  }
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
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  thread_local std::vector<float> tmp, pad;
  tmp.resize(static_cast<size_t>(h * w));
  pad.resize(static_cast<size_t>(w + 2 * rad));
  for (int c = 0; c < 3; ++c) {
    float* plane = x + c * h * w;
    // Along the width into tmp.
    for (int64_t y = 0; y < h; ++y) {
      const float* row = plane + y * w;
      for (int64_t i = -rad; i < w + rad; ++i) pad[i + rad] = row[reflect(i, w)];
      float* o = tmp.data() + y * w;
      std::fill(o, o + w, 0.0f);
      for (int64_t t = 0; t < kernel; ++t) {
        const float kt = k[t];
        const float* s = pad.data() + t;
        for (int64_t xx = 0; xx < w; ++xx) o[xx] += kt * s[xx];
      }
    }
    // Along the height back into the plane.
    for (int64_t y = 0; y < h; ++y) {
      float* o = plane + y * w;
      std::fill(o, o + w, 0.0f);
      for (int64_t t = 0; t < kernel; ++t) {
        const float kt = k[t];
        const float* s = tmp.data() + reflect(y + t - rad, h) * w;
        for (int64_t xx = 0; xx < w; ++xx) o[xx] += kt * s[xx];
      }
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
