// The standard supervised CIFAR augmentation used to train classifiers on top of an encoder (linear
// probe with augmentation, finetune): zero-pad by `padding`, take a random size x size crop, flip
// horizontally with p = 0.5 (torchvision RandomCrop(32, padding=4) + RandomHorizontalFlip). Every draw is a
// pure function of (seed, epoch, image index), like the pretraining augmentation.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace flatclr::data {

// images: [B, 3, H, W] float on any device; indices: the B dataset indices. -> [B, 3, H, W]
at::Tensor random_crop_flip(const at::Tensor& images, const std::vector<int64_t>& indices, int64_t padding,
                            uint64_t seed, int64_t epoch);

}  // namespace flatclr::data
