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
  if (!(semi_ratio > 0 && semi_ratio <= 1))
    fail_usage(Field{"semi_ratio"}, "=", semi_ratio, ": expected a fraction in (0, 1], e.g. 0.01 or 0.1");
  if (protocol == Protocol::kSemi && data.fraction < 1) {
    fail_usage(Field{"data.fraction"}, "=", data.fraction,
               ": semi-supervised runs choose their labelled share with ", Field{"semi_ratio"}, " (or ",
               Field{"semi_list"}, ")");
  }
  if (!semi_list.empty() && protocol != Protocol::kSemi)
    fail_usage(Field{"semi_list"}, "=", semi_list, ": only for semi-supervised runs");
  if (!transfer_dataset.empty() && protocol != Protocol::kTransfer)
    fail_usage(Field{"transfer_dataset"}, "=", transfer_dataset, ": only for transfer runs");
  if (transfer_dataset.find('/') != std::string::npos || transfer_dataset == "." ||
      transfer_dataset == "..") {
    fail_usage(Field{"transfer_dataset"}, "=", transfer_dataset,
               ": expected cifar10, cifar100 or the name of an image folder <data>/<name>/train/<class>/*");
  }
  data.validate();
  run.validate();
}

}  // namespace flatclr::eval
