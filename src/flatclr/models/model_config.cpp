#include "flatclr/models/model_config.h"

#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::models {

void ModelConfig::validate() const {
  if (!(width_multiplier > 0) || !std::isfinite(width_multiplier)) {
    fail_usage(Field{"model.width_multiplier"}, "=", width_multiplier, ": expected a positive number");
  }
  if (head.num_layers < 1) {
    fail_usage(Field{"model.head.num_layers"}, "=", head.num_layers, ": expected an integer >= 1");
  }
  if (head.out_dim < 1)
    fail_usage(Field{"model.head.out_dim"}, "=", head.out_dim, ": expected an integer >= 1");
}

ResNetOptions ModelConfig::resnet_options(bool imagenet_stem, const std::string& normalize_dataset) const {
  ResNetOptions o;
  o.arch = arch;
  o.imagenet_stem = imagenet_stem;
  o.width_multiplier = width_multiplier;
  o.normalize_dataset = normalize_dataset;
  o.head = head;
  return o;
}

}  // namespace flatclr::models
