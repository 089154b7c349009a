#include "flatclr/eval/eval_config.h"

#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::eval {

void EvalConfig::validate() const {
  if (checkpoint_dir.empty()) {
    fail_usage(
        "--checkpoint_dir: evaluation needs the pretraining run folder, e.g. "
        "--checkpoint_dir=results/cifar10/512_FlatCLR/<date>");
  }
  if (transfer_mode != "linear_eval" && transfer_mode != "finetune" && transfer_mode != "knn") {
    fail_usage("--transfer_mode=", transfer_mode, ": expected linear_eval, finetune or knn");
  }
  if (transfer_from_epoch < -1) fail_usage("--transfer_from_epoch=", transfer_from_epoch, ": expected >= 0");
  if (fc_epochs < 1) fail_usage("--fc_epochs=", fc_epochs, ": expected an integer >= 1");
  if (fc_batch_size < 1) fail_usage("--fc_batch_size=", fc_batch_size, ": expected an integer >= 1");
  if (!(fc_lr > 0) || !std::isfinite(fc_lr)) fail_usage("--fc_lr=", fc_lr, ": expected a positive number");
  if (fc_optimizer != "sgd" && fc_optimizer != "adam" && fc_optimizer != "lars") {
    fail_usage("--fc_optimizer=", fc_optimizer, ": expected sgd, adam or lars");
  }
  if (fc_scheduler != "cosine" && fc_scheduler != "constant") {
    fail_usage("--fc_scheduler=", fc_scheduler, ": expected cosine or constant");
  }
  if (!(fc_weight_decay >= 0)) fail_usage("--fc_weight_decay=", fc_weight_decay, ": expected a number >= 0");
  if (!(fc_momentum >= 0 && fc_momentum < 1)) fail_usage("--fc_momentum=", fc_momentum, ": expected [0, 1)");
  if (knn_k < 1) fail_usage("--knn_k=", knn_k, ": expected an integer >= 1");
  if (!(knn_temperature > 0))
    fail_usage("--knn_temperature=", knn_temperature, ": expected a positive number");
  if (eval_batch_size < 1) fail_usage("--eval_batch_size=", eval_batch_size, ": expected an integer >= 1");
  if (!(data_fraction > 0 && data_fraction <= 1)) {
    fail_usage("--data_fraction=", data_fraction, ": expected a fraction in (0, 1]");
  }
  if (!(test_fraction > 0 && test_fraction <= 1)) {
    fail_usage("--eval_test_fraction=", test_fraction, ": expected a fraction in (0, 1]");
  }
  if (dataset_name.find('/') != std::string::npos || dataset_name == "." || dataset_name == "..") {
    fail_usage("--dataset_name=", dataset_name,
               ": expected cifar10, cifar100 or the name of an image folder <data>/<name>/train/<class>/*");
  }
  if (bad_images != "skip" && bad_images != "stop")
    fail_usage("--bad_images=", bad_images, ": expected skip or stop");
  if (workers < 0) fail_usage("--workers=", workers, ": expected an integer >= 0");
}

}  // namespace flatclr::eval
