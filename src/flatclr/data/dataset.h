// An in-memory labelled image dataset: every image of one split as one uint8 tensor, as the CIFAR
// loaders produce it. A plain struct; the loaders fill it, nothing validates it here.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace flatclr::data {

struct Dataset {
  at::Tensor images;  // [N, 3, H, W] uint8, CPU, contiguous; channels R, G, B
  at::Tensor labels;  // [N] int64, CPU, each in [0, num_classes)
  int64_t num_classes = 0;
  std::string name;                      // "cifar10", "cifar100", ...
  std::vector<std::string> class_names;  // num_classes entries, index = label
};

}  // namespace flatclr::data
