#include "flatclr/data/crop_flip.h"

#include <torch/torch.h>

#include "flatclr/core/rng.h"
#include "flatclr/data/augment_batch.h"

namespace flatclr::data {

namespace {
constexpr uint64_t kCropFlipStream = 0x63726f70666cull;  // "cropfl"
}

at::Tensor random_crop_flip(const at::Tensor& images, const std::vector<int64_t>& indices, int64_t padding,
                            uint64_t seed, int64_t epoch) {
  const int64_t b = images.size(0), h = images.size(2), w = images.size(3);
  auto boxes = torch::empty({b, 4}, torch::kLong);
  auto flip = torch::empty({b}, torch::kBool);
  auto bx = boxes.accessor<int64_t, 2>();
  auto fl = flip.accessor<bool, 1>();
  for (int64_t i = 0; i < b; ++i) {
    core::Rng rng(core::hash_key(
        {kCropFlipStream, seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(indices[i])}));
    bx[i][0] = static_cast<int64_t>(rng.below(2 * padding + 1));
    bx[i][1] = static_cast<int64_t>(rng.below(2 * padding + 1));
    bx[i][2] = h;
    bx[i][3] = w;
    fl[i] = rng.bernoulli(0.5);
  }
  auto padded = torch::constant_pad_nd(images, {padding, padding, padding, padding}, 0);
  // A crop of the output size is a pure copy (scale 1), flips folded in.
  return resized_crop_batch(padded, boxes.to(images.device()), h, flip.to(images.device()));
}

}  // namespace flatclr::data
