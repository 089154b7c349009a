// The per-image SimCLR augmentation (faster_version off, the paper's slow path): for each image, two
// views drawn independently through RandomResizedCrop -> RandomHorizontalFlip -> RandomApply(ColorJitter, p)
// -> RandomGrayscale -> [GaussianBlur with p = 0.5], written as float [3, S, S] in [0, 1] (ToTensor; the
// model normalises inside).
//
// Semantics: torchvision 0.14's tensor transforms on float images (values within ~1e-6 of
// torchvision.transforms.functional on a float tensor, checked by tests/data/test_augment_image.cpp against
// scripts/gen/gen_augment_image.py), except that the crop is resized WITH antialiasing (antialias=True, the
// resampling filter of PIL's BILINEAR resize, which is what the reference's PIL pipeline gets; the batched
// faster path resizes without it, as torch's interpolate). The reference quantises to uint8 after every PIL
// op and blurs with cv2 on uint8; flatclr stays in float from the crop on (documented differences: a few
// 1/255 steps; the test reports the max difference to PIL's crop).
// Ops, one image at a time in plain loops over planar float data (no LibTorch op per image):
//   crop:       separable antialiased bilinear (triangle filter of support max(1, scale)), taps normalised,
//               flip folded into the column taps.
//   brightness: clamp(f x); contrast: clamp(f x + (1 - f) mean(gray)); saturation: clamp(f x + (1 - f) gray);
//   hue:        torchvision _rgb2hsv / shift mod 1 / _hsv2rgb; grayscale: 0.2989 r + 0.587 g + 0.114 b;
//   blur:       kernel exp(-x^2 / (2 sigma^2)) normalised over x = -r..r, separable, reflect padding
//               (torchvision gaussian_blur and cv2.GaussianBlur's BORDER_REFLECT_101 agree); taps beyond
//               6.2 sigma (< 5e-9 each) are left out.
// Speed: the crop runs along the height first (vectorised), the blur in register blocks with symmetric taps,
// hue on 4-float vectors (GCC/Clang vector extensions); bench/bench_data_pipeline.cpp times it against PIL.
// Random parameters: data::draw_view, keyed by (seed, epoch, view, image index), so a view depends on nothing
// else (not the worker, batch or thread).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "flatclr/data/augment_batch.h"

namespace flatclr::data {

// The per-image pipeline's settings for a dataset (the paper's values): cifar10/cifar100 and other small
// image-folder datasets used at their own size: ColorJitter(0.4, 0.4, 0.4, 0.1) (s = 0.5), no blur;
// imagenet and other ImageNet-sized folders (output 224): ColorJitter(0.8, 0.8, 0.8, 0.2) (s = 1) and blur
// with kernel int(0.1 * size) made odd (23 at 224), sigma in [0.1, 2], p = 0.5. A given color_jitter_strength
// s replaces the jitter with ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) (AugmentConfig::set_color_jitter_strength).
AugmentConfig per_image_config(bool small_images, int64_t size,
                               std::optional<double> color_jitter_strength = std::nullopt);

// An 8-bit RGB image, HWC, rows contiguous (stride = width * 3).
struct ImageView {
  const uint8_t* data = nullptr;
  int64_t height = 0, width = 0;
};

// Writes one augmented view of `image` into out[3 * S * S] (planar R, G, B planes of S x S floats in [0, 1],
// S = config.size). Thread-safe (scratch buffers are per thread).
void augment_view(const ImageView& image, const ViewDraw& draw, const AugmentConfig& config, float* out);

// The individual ops, on planar float images [3, H, W] (exposed for tests).
// Crop box (top, left, h, w) of `image` resized to size x size (antialiased bilinear), mirrored when flip;
// out: [3, size, size] in [0, 1].
void resized_crop_aa(const ImageView& image, const std::array<int64_t, 4>& box, int64_t size, bool flip,
                     float* out);
void brightness_planar(float* x, int64_t hw, float factor);
void contrast_planar(float* x, int64_t hw, float factor);
void saturation_planar(float* x, int64_t hw, float factor);
void hue_planar(float* x, int64_t hw, float shift);
void grayscale_planar(float* x, int64_t hw);
// Blurs the 3 planes in place (then clamps to [0, 1]); kernel odd with radius < min(h, w).
void gaussian_blur_planar(float* x, int64_t h, int64_t w, float sigma, int64_t kernel);

}  // namespace flatclr::data
