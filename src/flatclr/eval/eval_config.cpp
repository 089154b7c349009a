#include "flatclr/eval/eval_config.h"

#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::eval {

void EvalConfig::validate() const {
  if (checkpoint_dir.empty()) {
    fail_usage(Field{"checkpoint_dir"}, ": evaluation needs the pretraining run folder, e.g. ",
               Field{"checkpoint_dir"}, "=results/cifar10/512_FlatCLR/<date>");
  }
  if (transfer_from_epoch < -1) {
    fail_usage(Field{"transfer_from_epoch"}, "=", transfer_from_epoch, ": expected >= 0 (or -1: the newest)");
  }
  probe.validate();
  if (!(probe.lr > 0)) fail_usage(Field{"probe.lr"}, "=", probe.lr, ": expected a positive number");
  if (knn_k < 1) fail_usage(Field{"knn_k"}, "=", knn_k, ": expected an integer >= 1");
  if (!(knn_temperature > 0) || !std::isfinite(knn_temperature))
    fail_usage(Field{"knn_temperature"}, "=", knn_temperature, ": expected a positive number");
  if (eval_batch_size < 1)
    fail_usage(Field{"eval_batch_size"}, "=", eval_batch_size, ": expected an integer >= 1");
  if (!(test_fraction > 0 && test_fraction <= 1)) {
    fail_usage(Field{"test_fraction"}, "=", test_fraction, ": expected a fraction in (0, 1]");
  }
  data.validate();
  run.validate();
}

}  // namespace flatclr::eval
