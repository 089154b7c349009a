// The encoder a pretraining run builds, as the user chooses it: architecture, width and projection head.
// What the data decides (the ImageNet or CIFAR stem, the normalisation statistics) is added by
// resnet_options(). Messages name the fields as model.<field> (core/error.h).
#pragma once

#include <cstdint>
#include <string>

#include "flatclr/models/projection_head.h"
#include "flatclr/models/resnet.h"

namespace flatclr::models {

struct ModelConfig {
  Arch arch = Arch::kRes50;
  double width_multiplier = 1.0;  // scales every ResNet width (CPU-sized runs: 0.125-0.5)
  ProjectionHeadOptions head;     // mode, num_layers, out_dim; in_dim comes from the backbone

  // UsageError naming the field and the value.
  void validate() const;
  ResNetOptions resnet_options(bool imagenet_stem, const std::string& normalize_dataset) const;
};

}  // namespace flatclr::models
