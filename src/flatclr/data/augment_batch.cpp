#include "flatclr/data/augment_batch.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "flatclr/core/error.h"
#include "flatclr/core/rng.h"

namespace flatclr::data {

namespace {

// Keeps the augmentation stream apart from every other keyed stream of flatclr (data order, ...).
constexpr uint64_t kAugmentStream = 0x6175676d656e7421ull;  // "augment!"
constexpr int kNumJitterOps = 4;                            // brightness, contrast, saturation, hue
constexpr int64_t kMaxCropTries = 10;                       // RandomResizedCrop.get_params

void check_images(const at::Tensor& images, const char* what) {
  FLATCLR_CHECK(images.dim() == 4 && images.is_floating_point(), what,
                ": images must be [B, C, H, W] float, got ", images.sizes(), " ", images.scalar_type());
}

void check_rgb(const at::Tensor& images, const char* what) {
  check_images(images, what);
  FLATCLR_CHECK(images.size(1) == 3, what, ": images must have 3 channels, got ", images.sizes());
}

// A per-image [B] parameter as a [B, 1, 1, 1] tensor of the images' dtype on their device.
at::Tensor per_image(const at::Tensor& v, const at::Tensor& images) {
  FLATCLR_CHECK(v.dim() == 1 && v.size(0) == images.size(0), "per-image parameter must be [", images.size(0),
                "], got ", v.sizes());
  return v.to(images.device(), images.scalar_type()).view({-1, 1, 1, 1});
}

at::Tensor per_image_mask(const at::Tensor& m, const at::Tensor& images) {
  FLATCLR_CHECK(m.dim() == 1 && m.size(0) == images.size(0), "per-image mask must be [", images.size(0),
                "], got ", m.sizes());
  return m.to(images.device(), at::kBool).view({-1, 1, 1, 1});
}

// torchvision _blend: (ratio * img1 + (1 - ratio) * img2).clamp(0, 1). ratio: [B, 1, 1, 1].
at::Tensor blend(const at::Tensor& img1, const at::Tensor& img2, const at::Tensor& ratio) {
  return (ratio * img1 + (1.0 - ratio) * img2).clamp(0.0, 1.0);
}

// One axis of the bilinear resize of every crop (F.interpolate, align_corners=False), with the arithmetic of
// ATen's CPU compute_source_index_and_lambda: float scale, double source index, float lambdas.
// start, len: [B] int64 (crop offset and extent on this axis). Returns absolute indices [B, out] int64 and
// weights [B, out] of `dtype`.
struct AxisTaps {
  at::Tensor i0, i1, w0, w1;
};

AxisTaps axis_taps(const at::Tensor& start, const at::Tensor& len, int64_t out, at::ScalarType dtype) {
  const auto scale = len.to(at::kFloat).div(static_cast<double>(out)).to(at::kDouble).unsqueeze(1);  // [B, 1]
  const auto dst = torch::arange(out, start.options().dtype(at::kDouble)).add_(0.5).unsqueeze(0);  // [1, out]
  const auto src = (scale * dst - 0.5).clamp_min_(0.0);                                            // [B, out]
  auto i0 = src.to(at::kLong);  // src >= 0: floor
  auto w1 = (src - i0.to(at::kDouble)).to(dtype);
  auto w0 = 1.0 - w1;
  auto i1 = i0 + (i0 < (len - 1).unsqueeze(1)).to(at::kLong);
  const auto s = start.unsqueeze(1);
  return {i0 + s, i1 + s, std::move(w0), std::move(w1)};
}

// Which rows each stage touches, read from the host copy of the parameters: stage by stage the op runs only
// on its rows (index_select, op, index_copy_), so ColorJitter costs one evaluation of each op per image
// whatever the order, and no stage needs to look at device data from the host. All row lists travel in one
// tensor.
class StagePlan {
 public:
  StagePlan(const AugmentParams& host, const AugmentConfig& config, const at::Device& device) {
    const int64_t n = host.size();
    const auto jitter = host.jitter.accessor<bool, 1>();
    const auto order = host.order.accessor<int64_t, 2>();
    const auto gray = host.gray.accessor<bool, 1>();
    const auto blur = host.blur.accessor<bool, 1>();
    const std::array<bool, kNumJitterOps> enabled = {config.brightness > 0, config.contrast > 0,
                                                     config.saturation > 0, config.hue > 0};
    std::vector<int64_t> all;
    auto add_span = [&](auto&& take) {
      const auto begin = static_cast<int64_t>(all.size());
      for (int64_t b = 0; b < n; ++b)
        if (take(b)) all.push_back(b);
      return Span{begin, static_cast<int64_t>(all.size()) - begin};
    };
    for (int64_t k = 0; k < kNumJitterOps; ++k)
      for (int64_t op = 0; op < kNumJitterOps; ++op)
        jitter_[k][op] = add_span(
            [&](int64_t b) { return config.jitter_p > 0 && enabled[op] && jitter[b] && order[b][k] == op; });
    gray_ = add_span([&](int64_t b) { return config.gray_p > 0 && gray[b]; });
    blur_ = add_span([&](int64_t b) { return config.blur && config.blur_p > 0 && blur[b]; });
    rows_ = torch::tensor(all, torch::kLong);
    if (device.is_cuda()) rows_ = rows_.pin_memory();
    rows_ = rows_.to(device, at::kLong, /*non_blocking=*/true);
  }
  // Rows using jitter op `op` at position `k`; undefined when none.
  at::Tensor jitter_rows(int64_t k, int64_t op) const { return rows(jitter_[k][op]); }
  at::Tensor gray_rows() const { return rows(gray_); }
  at::Tensor blur_rows() const { return rows(blur_); }

 private:
  struct Span {
    int64_t begin = 0, count = 0;
  };
  at::Tensor rows(const Span& s) const {
    return s.count > 0 ? rows_.narrow(0, s.begin, s.count) : at::Tensor();
  }
  at::Tensor rows_;
  std::array<std::array<Span, kNumJitterOps>, kNumJitterOps> jitter_;
  Span gray_, blur_;
};

// x[rows] = fn(x[rows]) in place; rows: [R] int64 on x's device, possibly undefined (nothing to do).
template <typename Fn>
void apply_to_rows(at::Tensor& x, const at::Tensor& rows, Fn&& fn) {
  if (!rows.defined()) return;
  x.index_copy_(0, rows, fn(x.index_select(0, rows), rows).contiguous());
}

std::array<int64_t, 4> sample_crop(core::Rng& rng, int64_t height, int64_t width, const AugmentConfig& c) {
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_lo = std::log(c.ratio_min), log_hi = std::log(c.ratio_max);
  for (int64_t attempt = 0; attempt < kMaxCropTries; ++attempt) {
    const double target_area = area * rng.uniform(c.scale_min, c.scale_max);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    // Python's round() rounds halves to even, as nearbyint does in the default rounding mode.
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target_area / aspect)));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const auto i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(height - h + 1)));
      const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(width - w + 1)));
      return {i, j, h, w};
    }
  }
  // Fallback: central crop with the aspect ratio clamped to the range.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < c.ratio_min) {
    h = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / c.ratio_min));
  } else if (in_ratio > c.ratio_max) {
    w = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * c.ratio_max));
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

}  // namespace

double default_color_jitter_strength(bool small_images) { return small_images ? 0.5 : 1.0; }

AugmentConfig AugmentConfig::for_dataset(const std::string& name, int64_t image_size,
                                         std::optional<double> color_jitter_strength) {
  if (image_size <= 0) fail("augmentation: image size must be positive, got ", image_size);
  AugmentConfig c;
  c.size = image_size;
  const bool cifar = name == "cifar10" || name == "cifar100";
  c.set_color_jitter_strength(color_jitter_strength.value_or(default_color_jitter_strength(cifar)));
  c.blur = name != "cifar100";
  // int(0.1 * size) in double arithmetic, as Python computes it; made odd as the reference's blur does.
  const auto k = static_cast<int64_t>(0.1 * static_cast<double>(image_size));
  c.blur_kernel = (k / 2) * 2 + 1;
  return c;
}

void AugmentConfig::set_color_jitter_strength(double s) {
  if (!(s >= 0.0 && s <= kMaxColorJitterStrength)) {
    fail("augmentation: colour jitter strength must be in [0, ", kMaxColorJitterStrength,
         "] (ColorJitter(0.8s, 0.8s, 0.8s, 0.2s); the hue shift 0.2s cannot pass 0.5), got ", s);
  }
  brightness = contrast = saturation = 0.8 * s;
  hue = 0.2 * s;
}

void AugmentConfig::validate() const {
  auto prob = [](double p, const char* field) {
    if (!(p >= 0.0 && p <= 1.0)) fail("augmentation: ", field, " must be a probability in [0, 1], got ", p);
  };
  if (size <= 0) fail("augmentation: size must be positive, got ", size);
  if (!(scale_min > 0.0 && scale_min <= scale_max))
    fail("augmentation: crop scale range must satisfy 0 < min <= max, got (", scale_min, ", ", scale_max,
         ")");
  if (!(ratio_min > 0.0 && ratio_min <= ratio_max))
    fail("augmentation: crop ratio range must satisfy 0 < min <= max, got (", ratio_min, ", ", ratio_max,
         ")");
  prob(flip_p, "flip_p");
  prob(jitter_p, "jitter_p");
  prob(gray_p, "gray_p");
  prob(blur_p, "blur_p");
  if (!(brightness >= 0.0)) fail("augmentation: brightness must be >= 0, got ", brightness);
  if (!(contrast >= 0.0)) fail("augmentation: contrast must be >= 0, got ", contrast);
  if (!(saturation >= 0.0)) fail("augmentation: saturation must be >= 0, got ", saturation);
  if (!(hue >= 0.0 && hue <= 0.5)) fail("augmentation: hue must be in [0, 0.5], got ", hue);
  if (blur) {
    if (blur_kernel < 1 || blur_kernel % 2 == 0)
      fail("augmentation: blur kernel size must be odd and positive, got ", blur_kernel);
    if (blur_kernel / 2 >= size)
      fail("augmentation: blur kernel ", blur_kernel, " is too large for ", size,
           " px images (radius < size)");
    if (!(sigma_min > 0.0 && sigma_min <= sigma_max))
      fail("augmentation: blur sigma range must satisfy 0 < min <= max, got (", sigma_min, ", ", sigma_max,
           ")");
  }
}

AugmentParams AugmentParams::to(const at::Device& device) const {
  auto move = [&](const at::Tensor& t) {
    if (!t.defined() || t.device() == device) return t;
    // Pinned memory makes the host-to-device copy asynchronous; the caching host allocator keeps the buffer
    // alive until the copy is done.
    if (device.is_cuda() && t.is_cpu())
      return t.pin_memory().to(device, t.scalar_type(), /*non_blocking=*/true);
    return t.to(device, t.scalar_type(), /*non_blocking=*/true);
  };
  return {move(crop),  move(flip), move(jitter), move(factors),
          move(order), move(gray), move(blur),   move(sigma)};
}

ViewDraw draw_view(const AugmentConfig& config, int64_t height, int64_t width, uint64_t seed, int64_t epoch,
                   int view, int64_t image_index) {
  const std::array<std::pair<double, double>, kNumJitterOps> ranges = {
      std::pair{std::max(0.0, 1.0 - config.brightness), 1.0 + config.brightness},
      std::pair{std::max(0.0, 1.0 - config.contrast), 1.0 + config.contrast},
      std::pair{std::max(0.0, 1.0 - config.saturation), 1.0 + config.saturation},
      std::pair{-config.hue, config.hue}};
  core::Rng rng(core::hash_key({kAugmentStream, seed, static_cast<uint64_t>(epoch),
                                static_cast<uint64_t>(view), static_cast<uint64_t>(image_index)}));
  ViewDraw d;
  // Every draw is made whatever the earlier outcomes, in this fixed order.
  d.crop = sample_crop(rng, height, width, config);
  d.flip = rng.bernoulli(config.flip_p);
  d.jitter = rng.bernoulli(config.jitter_p);
  std::array<int, kNumJitterOps> perm = {0, 1, 2, 3};  // torch.randperm(4): uniform permutation
  for (int k = kNumJitterOps - 1; k > 0; --k)
    std::swap(perm[k], perm[static_cast<int>(rng.below(static_cast<uint64_t>(k + 1)))]);
  for (int k = 0; k < kNumJitterOps; ++k) {
    d.order[k] = perm[k];
    d.factors[k] = static_cast<float>(rng.uniform(ranges[k].first, ranges[k].second));
  }
  d.gray = rng.bernoulli(config.gray_p);
  const bool blur_draw = rng.bernoulli(config.blur_p);
  d.blur = config.blur && blur_draw;
  d.sigma = static_cast<float>(rng.uniform(config.sigma_min, config.sigma_max));
  return d;
}

AugmentParams sample_augment_params(const AugmentConfig& config, int64_t height, int64_t width, uint64_t seed,
                                    int64_t epoch, int view, const std::vector<int64_t>& image_indices) {
  config.validate();
  FLATCLR_CHECK(height > 0 && width > 0, "image size must be positive, got ", height, "x", width);
  const auto n = static_cast<int64_t>(image_indices.size());
  const auto i64 = torch::TensorOptions().dtype(at::kLong);
  const auto f32 = torch::TensorOptions().dtype(at::kFloat);
  const auto b8 = torch::TensorOptions().dtype(at::kBool);
  AugmentParams p{torch::empty({n, 4}, i64), torch::empty({n}, b8),     torch::empty({n}, b8),
                  torch::empty({n, 4}, f32), torch::empty({n, 4}, i64), torch::empty({n}, b8),
                  torch::empty({n}, b8),     torch::empty({n}, f32)};
  auto crop = p.crop.accessor<int64_t, 2>();
  auto order = p.order.accessor<int64_t, 2>();
  auto factors = p.factors.accessor<float, 2>();
  auto flip = p.flip.accessor<bool, 1>();
  auto jitter = p.jitter.accessor<bool, 1>();
  auto gray = p.gray.accessor<bool, 1>();
  auto blur = p.blur.accessor<bool, 1>();
  auto sigma = p.sigma.accessor<float, 1>();
  for (int64_t b = 0; b < n; ++b) {
    const auto d = draw_view(config, height, width, seed, epoch, view, image_indices[b]);
    for (int c = 0; c < 4; ++c) crop[b][c] = d.crop[c];
    flip[b] = d.flip;
    jitter[b] = d.jitter;
    for (int k = 0; k < kNumJitterOps; ++k) {
      order[b][k] = d.order[k];
      factors[b][k] = d.factors[k];
    }
    gray[b] = d.gray;
    blur[b] = d.blur;
    sigma[b] = d.sigma;
  }
  return p;
}

AugmentParams concat_params(const std::vector<AugmentParams>& parts) {
  FLATCLR_CHECK(!parts.empty(), "concat_params needs at least one part");
  auto cat = [&](at::Tensor AugmentParams::*field) {
    std::vector<at::Tensor> ts;
    for (const auto& part : parts) ts.push_back(part.*field);
    return torch::cat(ts, 0);
  };
  return {cat(&AugmentParams::crop),    cat(&AugmentParams::flip),  cat(&AugmentParams::jitter),
          cat(&AugmentParams::factors), cat(&AugmentParams::order), cat(&AugmentParams::gray),
          cat(&AugmentParams::blur),    cat(&AugmentParams::sigma)};
}

at::Tensor augment_batch(const at::Tensor& images, const AugmentParams& params, const AugmentConfig& config) {
  check_rgb(images, "augment_batch");
  FLATCLR_CHECK(params.size() == images.size(0), "augment_batch: ", params.size(), " parameter rows for ",
                images.size(0), " images");
  const auto device = images.device();
  // The stage plan reads the parameters on the host; parameters given on a device cost one synchronisation
  // here.
  const auto host = params.crop.is_cpu() ? params : params.to(at::kCPU);
  const StagePlan plan(host, config, device);
  const auto p = host.to(device);
  auto x = resized_crop_batch(images, p.crop, config.size, p.flip);
  using OpFn = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
  const std::array<OpFn, kNumJitterOps> ops = {&adjust_brightness, &adjust_contrast, &adjust_saturation,
                                               &adjust_hue};
  for (int64_t k = 0; k < kNumJitterOps; ++k) {
    for (int64_t op = 0; op < kNumJitterOps; ++op) {
      const auto factor = p.factors.select(1, op);
      apply_to_rows(x, plan.jitter_rows(k, op), [&](const at::Tensor& sub, const at::Tensor& rows) {
        return ops[op](sub, factor.index_select(0, rows));
      });
    }
  }
  apply_to_rows(x, plan.gray_rows(), [](const at::Tensor& sub, const at::Tensor&) {
    return rgb_to_grayscale(sub).expand_as(sub);
  });
  // Clamped because the normalised kernel may sum to 1 + ulp.
  apply_to_rows(x, plan.blur_rows(), [&](const at::Tensor& sub, const at::Tensor& rows) {
    return gaussian_blur_batch(sub, p.sigma.index_select(0, rows), config.blur_kernel).clamp(0.0, 1.0);
  });
  return x;
}

at::Tensor make_two_views(const at::Tensor& images_u8, const std::vector<int64_t>& indices,
                          const AugmentConfig& config, uint64_t seed, int64_t epoch) {
  FLATCLR_CHECK(images_u8.dim() == 4 && images_u8.size(1) == 3 && images_u8.scalar_type() == at::kByte,
                "make_two_views: images must be [B, 3, H, W] uint8, got ", images_u8.sizes(), " ",
                images_u8.scalar_type());
  FLATCLR_CHECK(static_cast<int64_t>(indices.size()) == images_u8.size(0), "make_two_views: ", indices.size(),
                " indices for ", images_u8.size(0), " images");
  const int64_t h = images_u8.size(2), w = images_u8.size(3);
  const auto x = images_u8.to(at::kFloat).div_(255.0);  // torchvision ToTensor
  const auto params = concat_params({sample_augment_params(config, h, w, seed, epoch, 0, indices),
                                     sample_augment_params(config, h, w, seed, epoch, 1, indices)});
  return augment_batch(torch::cat({x, x}, 0), params, config);  // host params: no synchronisation
}

at::Tensor resized_crop_batch(const at::Tensor& images, const at::Tensor& boxes, int64_t size,
                              const at::Tensor& flip) {
  check_images(images, "resized_crop_batch");
  const int64_t n = images.size(0), c = images.size(1), height = images.size(2), width = images.size(3);
  FLATCLR_CHECK(size > 0, "resized_crop_batch: size must be positive, got ", size);
  FLATCLR_CHECK(
      boxes.dim() == 2 && boxes.size(0) == n && boxes.size(1) == 4 && boxes.scalar_type() == at::kLong,
      "resized_crop_batch: boxes must be [", n, ", 4] int64, got ", boxes.sizes(), " ", boxes.scalar_type());
  if (boxes.is_cpu()) {  // free on the host; on a device it would cost a synchronisation
    auto a = boxes.accessor<int64_t, 2>();
    for (int64_t b = 0; b < n; ++b) {
      FLATCLR_CHECK(a[b][0] >= 0 && a[b][1] >= 0 && a[b][2] > 0 && a[b][3] > 0 &&
                        a[b][0] + a[b][2] <= height && a[b][1] + a[b][3] <= width,
                    "crop box (", a[b][0], ", ", a[b][1], ", ", a[b][2], ", ", a[b][3], ") outside a ",
                    height, "x", width, " image");
    }
  }
  const auto bx = boxes.to(images.device());
  const auto rows = axis_taps(bx.select(1, 0), bx.select(1, 2), size, images.scalar_type());
  auto cols = axis_taps(bx.select(1, 1), bx.select(1, 3), size, images.scalar_type());
  if (flip.defined()) {  // the mirrored output reads the columns in reverse order
    FLATCLR_CHECK(flip.dim() == 1 && flip.size(0) == n, "resized_crop_batch: flip must be [", n, "], got ",
                  flip.sizes());
    const auto f = flip.to(images.device(), at::kBool).unsqueeze(1);
    for (auto* t : {&cols.i0, &cols.i1, &cols.w0, &cols.w1}) *t = torch::where(f, t->flip(1), *t);
  }
  // ATen's order: interpolate along the width in each of the two source rows, then between the rows.
  auto col_index = [&](const at::Tensor& i) { return i.view({n, 1, 1, size}).expand({n, c, height, size}); };
  const auto along_w = images.gather(3, col_index(cols.i0)) * cols.w0.view({n, 1, 1, size}) +
                       images.gather(3, col_index(cols.i1)) * cols.w1.view({n, 1, 1, size});  // [B, C, H, S]
  auto row_index = [&](const at::Tensor& i) { return i.view({n, 1, size, 1}).expand({n, c, size, size}); };
  return along_w.gather(2, row_index(rows.i0)) * rows.w0.view({n, 1, size, 1}) +
         along_w.gather(2, row_index(rows.i1)) * rows.w1.view({n, 1, size, 1});
}

at::Tensor hflip(const at::Tensor& images, const at::Tensor& flip) {
  check_images(images, "hflip");
  return torch::where(per_image_mask(flip, images), images.flip(-1), images);
}

at::Tensor rgb_to_grayscale(const at::Tensor& images) {
  check_rgb(images, "rgb_to_grayscale");
  return (0.2989 * images.select(1, 0) + 0.587 * images.select(1, 1) + 0.114 * images.select(1, 2))
      .unsqueeze(1);
}

at::Tensor adjust_brightness(const at::Tensor& images, const at::Tensor& factor) {
  check_rgb(images, "adjust_brightness");
  // _blend(img, zeros, f) = (f * img + (1 - f) * 0).clamp(0, 1), and f * img + (+-0) is exactly f * img.
  return (per_image(factor, images) * images).clamp(0.0, 1.0);
}

at::Tensor adjust_contrast(const at::Tensor& images, const at::Tensor& factor) {
  check_rgb(images, "adjust_contrast");
  const auto mean = rgb_to_grayscale(images).mean({1, 2, 3}, /*keepdim=*/true);
  return blend(images, mean, per_image(factor, images));
}

at::Tensor adjust_saturation(const at::Tensor& images, const at::Tensor& factor) {
  check_rgb(images, "adjust_saturation");
  return blend(images, rgb_to_grayscale(images), per_image(factor, images));
}

at::Tensor adjust_hue(const at::Tensor& images, const at::Tensor& hue_factor) {
  check_rgb(images, "adjust_hue");
  const auto shift = per_image(hue_factor, images).squeeze(1);  // [B, 1, 1]
  const auto dtype = images.scalar_type();
  // torchvision _rgb2hsv, op for op, except that where(eqc, 1, d) is written d + eqc (where is slow on the
  // CPU): the same divisor where maxc != minc, and where they are equal cr = 0 (s = 0) and cr + 1 = 1
  // exactly.
  const auto r = images.select(1, 0), g = images.select(1, 1), b = images.select(1, 2);
  const auto maxc = images.amax(1);
  const auto minc = images.amin(1);
  const auto eqc = (maxc == minc).to(dtype);
  const auto cr = maxc - minc;
  const auto s = cr / (maxc + eqc);
  const auto cr_divisor = cr + eqc;
  const auto rc = (maxc - r) / cr_divisor;
  const auto gc = (maxc - g) / cr_divisor;
  const auto bc = (maxc - b) / cr_divisor;
  const auto hr = (maxc == r).to(dtype) * (bc - gc);
  const auto hg = ((maxc == g) & (maxc != r)).to(dtype) * (2.0 + rc - bc);
  const auto hb = ((maxc != g) & (maxc != r)).to(dtype) * (4.0 + gc - rc);
  auto h = torch::fmod(((hr + hg + hb) / 6.0 + 1.0), 1.0);
  // (h + shift) % 1.0: torch.remainder is fmod plus 1 for negative remainders; x - floor(x) is the same float
  // (exact for x in [0, 2), and fl(x + 1) for x in (-1, 0)) and much faster on the CPU.
  h = h + shift;
  h = h - torch::floor(h);
  // torchvision _hsv2rgb. Its one-hot einsum is an exact selection; here a gather. Sector i gives
  // r = (v, q, p, p, t, v)[i], and g, b follow the same table at sectors i - 2 and i - 4 (mod 6).
  const auto& v = maxc;
  const auto i = torch::floor(h * 6.0);
  const auto f = (h * 6.0) - i;
  const auto p = torch::clamp(v * (1.0 - s), 0.0, 1.0);
  const auto q = torch::clamp(v * (1.0 - s * f), 0.0, 1.0);
  const auto t = torch::clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  const auto table = torch::stack({v, q, p, p, t, v}, 1);  // [B, 6, H, W]
  // Small integers in float arithmetic: i is in {0, ..., 6} (h may round up to 1), the index in {-4, ..., 5}.
  const auto sector = (i - 6.0 * (i >= 6.0).to(dtype)).unsqueeze(1);  // i % 6, [B, 1, H, W]
  auto index = sector - torch::arange(0, 6, 2, sector.options()).view({1, 3, 1, 1});
  index = index + 6.0 * (index < 0.0).to(dtype);
  return table.gather(1, index.to(at::kLong));
}

at::Tensor gaussian_blur_batch(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size) {
  check_images(images, "gaussian_blur_batch");
  const int64_t n = images.size(0), height = images.size(2), width = images.size(3);
  const int64_t r = kernel_size / 2;
  FLATCLR_CHECK(kernel_size >= 1 && kernel_size % 2 == 1 && r < height && r < width,
                "gaussian_blur_batch: kernel size must be odd with radius < image side, got ", kernel_size,
                " for ", images.sizes());
  FLATCLR_CHECK(sigma.dim() == 1 && sigma.size(0) == n, "gaussian_blur_batch: sigma must be [", n, "], got ",
                sigma.sizes());
  // torchvision _get_gaussian_kernel1d, one row per image: [B, k].
  const auto x =
      torch::linspace(-static_cast<double>(r), static_cast<double>(r), kernel_size, images.options())
          .unsqueeze(0);
  const auto pdf =
      torch::exp(-0.5 * (x / sigma.to(images.device(), images.scalar_type()).unsqueeze(1)).pow(2));
  const auto kernel = pdf / pdf.sum(1, /*keepdim=*/true);
  namespace F = torch::nn::functional;
  const auto padded = r > 0 ? F::pad(images, F::PadFuncOptions({r, r, r, r}).mode(torch::kReflect)) : images;
  // Separable: along the width, then along the height (torchvision convolves once with the outer product).
  auto tap = [&](int64_t t) { return kernel.select(1, t).view({n, 1, 1, 1}); };
  auto across = padded.narrow(3, 0, width) * tap(0);
  for (int64_t t = 1; t < kernel_size; ++t) across = across + padded.narrow(3, t, width) * tap(t);
  auto out = across.narrow(2, 0, height) * tap(0);
  for (int64_t t = 1; t < kernel_size; ++t) out = out + across.narrow(2, t, height) * tap(t);
  return out;
}

}  // namespace flatclr::data
