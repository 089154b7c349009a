// The "faster version" SimCLR augmentation (faster_version on): the whole batch is augmented
// at once with tensor ops on the training device (CPU or CUDA), with a fresh random draw per image and per
// view and new views every epoch (the paper's code shares one draw per 128-image chunk and
// draws the views once per run). The pipeline is torchvision's, in its order, with torchvision's tensor
// semantics (float images in [0, 1]; torchvision 0.14 transforms.functional_tensor):
//   1. RandomResizedCrop(size, scale, ratio), bilinear, antialias off: parameters as
//   RandomResizedCrop.get_params
//      (10 tries, then a central crop); resize as F.interpolate(align_corners=False) over the crop only, i.e.
//      src = (dst + 0.5) * in/out - 0.5, clamped at 0, x1 = min(x0 + 1, in - 1): edge pixels clamp inside the
//      crop.
//   2. RandomHorizontalFlip(flip_p), folded into the crop's column indices.
//   3. RandomApply(ColorJitter(brightness, contrast, saturation, hue), jitter_p): factors ~ U[max(0, 1-x),
//   1+x],
//      hue ~ U[-h, h], the four ops in a random order per image. brightness: x*f; contrast: blend with the
//      per-image mean of the grayscale; saturation: blend with the grayscale; all clamped to [0, 1]; hue:
//      torchvision's _rgb2hsv / _hsv2rgb with h shifted mod 1. Grayscale = 0.2989 r + 0.587 g + 0.114 b.
//   4. RandomGrayscale(gray_p), 3 channels.
//   5. Gaussian blur with probability blur_p (when enabled): sigma ~ U(sigma_min, sigma_max), kernel exp(-x^2
//   /
//      (2 sigma^2)) normalised over x = -r..r, separable, reflection padding (torchvision's gaussian_blur and
//      the reference's GPU blur, which agree). cifar10 has it (kernel 3 at 32 px), cifar100 does not.
// Random parameters are drawn on the host, one core::Rng per (seed, epoch, view, image index), so a draw
// never depends on the batch composition or the world size; they travel to the device as a few small tensors
// (one non-blocking copy each). Each stage runs only on the images that use it (row lists made on the host),
// so ColorJitter's random order costs one evaluation of each op per image, and nothing waits for the device.
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flatclr::data {

// SimCLR's colour distortion strength s sets ColorJitter(0.8s, 0.8s, 0.8s, 0.2s). The paper uses s = 0.5 for
// CIFAR-sized images and s = 1 for ImageNet-sized ones; s = 0 turns the jitter off (the views then differ by
// crop, flip, grayscale and blur alone). torchvision caps the hue shift at 0.5, so s is at most 2.5.
inline constexpr double kMaxColorJitterStrength = 2.5;
// The paper's s: 0.5 for small (CIFAR-sized) images, 1 for ImageNet-sized ones.
double default_color_jitter_strength(bool small_images);

struct AugmentConfig {
  int64_t size = 32;  // output side (square)
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double flip_p = 0.5;
  double jitter_p = 0.8;
  double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1;  // 0 turns that op off
  double gray_p = 0.2;
  bool blur = true;
  int64_t blur_kernel = 3;  // odd
  double blur_p = 0.5;
  double sigma_min = 0.1, sigma_max = 2.0;

  // The paper's faster-version settings: ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) with s = 0.5 for
  // cifar10/cifar100 and s = 1 otherwise (or the given color_jitter_strength); blur for every name but
  // cifar100, kernel int(0.1 * image_size), +1 when even.
  static AugmentConfig for_dataset(const std::string& name, int64_t image_size,
                                   std::optional<double> color_jitter_strength = std::nullopt);
  // brightness = contrast = saturation = 0.8 s, hue = 0.2 s; UserError for s outside [0, 2.5].
  void set_color_jitter_strength(double s);
  // Throws UserError naming the offending field and value.
  void validate() const;
};

// Per-image parameters, one row per image (row r of a batch belongs to image r). CPU from the sampler; to()
// moves them to the images' device.
struct AugmentParams {
  at::Tensor crop;     // [B, 4] int64: top i, left j, height h, width w; inside the image
  at::Tensor flip;     // [B] bool
  at::Tensor jitter;   // [B] bool: ColorJitter applied
  at::Tensor factors;  // [B, 4] float32: brightness, contrast, saturation factors, hue shift
  at::Tensor order;    // [B, 4] int64: op id (0 brightness, 1 contrast, 2 saturation, 3 hue) at each position
  at::Tensor gray;     // [B] bool
  at::Tensor blur;     // [B] bool (always false when the config has no blur)
  at::Tensor sigma;    // [B] float32

  int64_t size() const { return crop.defined() ? crop.size(0) : 0; }
  // One copy per tensor; from the host to CUDA through pinned memory and non_blocking, so it does not wait.
  AugmentParams to(const at::Device& device) const;
};

// The random parameters of one view of one image, drawn from one core::Rng keyed by (seed, epoch, view,
// image_index) in a fixed order (crop, flip, jitter, order, factors, gray, blur, sigma): the batched path
// (sample_augment_params) and the per-image path (augment_image.h) make the same draws for the same key.
struct ViewDraw {
  std::array<int64_t, 4> crop{};  // top, left, height, width
  bool flip = false, jitter = false, gray = false, blur = false;
  std::array<float, 4> factors{};  // brightness, contrast, saturation factors, hue shift
  std::array<int, 4> order{};      // op id at each position (0 brightness, 1 contrast, 2 saturation, 3 hue)
  float sigma = 1.0f;
};
// config must be valid (validate()); height, width: the input image size.
ViewDraw draw_view(const AugmentConfig& config, int64_t height, int64_t width, uint64_t seed, int64_t epoch,
                   int view, int64_t image_index);

// Draws the parameters of every image in `image_indices` for one view of one epoch (on the host). height,
// width: the input image size. Row b depends only on (seed, epoch, view, image_indices[b]).
AugmentParams sample_augment_params(const AugmentConfig& config, int64_t height, int64_t width, uint64_t seed,
                                    int64_t epoch, int view, const std::vector<int64_t>& image_indices);

// Stacks parameter sets along the rows (all on one device).
AugmentParams concat_params(const std::vector<AugmentParams>& parts);

// images: [B, 3, H, W] float in [0, 1] on any device. Returns [B, 3, size, size] in [0, 1] on the same
// device. params: on the host, as sample_augment_params returns them: each stage then runs only on its rows,
// chosen on the host, with no synchronisation (params already on a device cost one copy back to the host).
at::Tensor augment_batch(const at::Tensor& images, const AugmentParams& params, const AugmentConfig& config);

// The trainer's entry point. images_u8: [B, 3, H, W] uint8 on the training device; indices: the B dataset
// indices. Returns [2B, 3, size, size] float32 in [0, 1]: rows 0..B-1 view 0, rows B..2B-1 view 1 of the same
// images.
at::Tensor make_two_views(const at::Tensor& images_u8, const std::vector<int64_t>& indices,
                          const AugmentConfig& config, uint64_t seed, int64_t epoch);

// ---- The individual ops (batched, per-image parameters; exposed for tests) ----

// images: [B, C, H, W] float; boxes: [B, 4] int64 (i, j, h, w), every box inside the image; flip: [B] bool or
// undefined (no flip). Returns [B, C, size, size]: F.resized_crop(bilinear, antialias off), then hflip where
// set.
at::Tensor resized_crop_batch(const at::Tensor& images, const at::Tensor& boxes, int64_t size,
                              const at::Tensor& flip = at::Tensor());
// images: [B, C, H, W]; flip: [B] bool. Mirrors the images whose flag is set.
at::Tensor hflip(const at::Tensor& images, const at::Tensor& flip);
// images: [B, 3, H, W] float. Returns [B, 1, H, W].
at::Tensor rgb_to_grayscale(const at::Tensor& images);
// images: [B, 3, H, W] float in [0, 1]; factor: [B] (>= 0; hue: [B] in [-0.5, 0.5]). Each returns [B, 3, H,
// W].
at::Tensor adjust_brightness(const at::Tensor& images, const at::Tensor& factor);
at::Tensor adjust_contrast(const at::Tensor& images, const at::Tensor& factor);
at::Tensor adjust_saturation(const at::Tensor& images, const at::Tensor& factor);
at::Tensor adjust_hue(const at::Tensor& images, const at::Tensor& hue_factor);
// images: [B, C, H, W] float; sigma: [B] > 0; kernel_size odd, kernel_size / 2 < min(H, W). Blurs every
// image.
at::Tensor gaussian_blur_batch(const at::Tensor& images, const at::Tensor& sigma, int64_t kernel_size);

}  // namespace flatclr::data
