// Everything an evaluation run needs (the paper's option names; fc_* defaults as in its code): which
// checkpoint(s) of a pretraining run, which protocol (linear probe, finetune, kNN), the probe's optimisation,
// and the data and run settings it shares with pretraining. Messages name fields by their place here
// (`probe.epochs`, `data.fraction`), never by a command-line flag (core/error.h).
#pragma once

#include <cstdint>
#include <string>

#include "flatclr/core/choice.h"
#include "flatclr/core/run_settings.h"
#include "flatclr/data/data_config.h"
#include "flatclr/eval/expected_encoder.h"
#include "flatclr/eval/feature_file.h"
#include "flatclr/eval/linear_probe.h"

namespace flatclr::eval {

// linear_eval: a linear layer on the frozen encoder; finetune: encoder and layer trained together;
// knn: weighted cosine kNN on the frozen features.
enum class TransferMode { kLinearEval, kFinetune, kKnn };
inline constexpr core::Choice<TransferMode> kTransferModes[] = {{TransferMode::kLinearEval, "linear_eval"},
                                                                {TransferMode::kFinetune, "finetune"},
                                                                {TransferMode::kKnn, "knn"}};
constexpr const auto& choices_of(TransferMode) { return kTransferModes; }

// What an evaluation is for (the paper's train_mode values):
//   eval      the encoder on the dataset it was pretrained on (or data.dataset_name);
//   transfer  on another dataset (transfer_dataset), its images brought to the encoder's input size (224 px
//             for an ImageNet stem, 32 px for a CIFAR stem) and its own label set;
//   semi      finetuning on a class-balanced labelled share of the training split (semi_ratio, each class
//             contributing that share of its images, chosen from the seed) or on the images a list file
//             names (semi_list), tested on the whole test split.
enum class Protocol { kEval, kTransfer, kSemi };
inline constexpr core::Choice<Protocol> kProtocols[] = {
    {Protocol::kEval, "eval"}, {Protocol::kTransfer, "transfer"}, {Protocol::kSemi, "semi"}};
constexpr const auto& choices_of(Protocol) { return kProtocols; }

struct EvalConfig {
  EvalConfig() { data.dataset_name.clear(); }

  // what to evaluate
  std::string checkpoint_dir;        // a pretraining run folder (or a folder holding the paper's checkpoints)
  int64_t transfer_from_epoch = -1;  // -1: the newest checkpoint
  bool all_checkpoints = false;      // every checkpoint_*.pth.tar of the folder, oldest first
  bool random_init = false;          // baseline: the same architecture, randomly initialised
  TransferMode transfer_mode = TransferMode::kLinearEval;
  Protocol protocol = Protocol::kEval;
  std::string
      transfer_dataset;     // transfer: the target dataset ("" = data.dataset_name, else the pretraining one)
  double semi_ratio = 0.1;  // semi: labelled share of the training split, (0, 1]
  std::string semi_list;    // semi: a list file of the labelled images instead (data/image_list.h)
  // The encoder as the command line describes it (the paper's --model, ...): each checkpoint must agree.
  ExpectedEncoder model;

  // data; dataset_name "" = the dataset the encoder was pretrained on (cifar10 for foreign checkpoints).
  // data.fraction is the class-stratified share of the labelled training set.
  data::DataConfig data;
  double test_fraction = 1.0;  // class-stratified share of the test split (quick checks only: not comparable)

  // linear probe / finetune (reference defaults); probe.seed is set from run.seed
  LinearProbeConfig probe;
  bool fc_augment = false;  // linear_eval: train through the frozen backbone with random crop + flip
  // linear_eval on fixed features of a streamed split: how the feature file stores them (eval/feature_file.h)
  FeatureDtype feature_dtype = FeatureDtype::kFloat16;

  // kNN
  int64_t knn_k = 200;
  double knn_temperature = 0.1;

  int64_t eval_batch_size = 512;  // feature extraction batch
  core::RunSettings run;

  void validate() const;  // UsageError naming the field
};

}  // namespace flatclr::eval
