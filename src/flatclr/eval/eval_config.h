// Everything an evaluation run needs (the paper's flag names; fc_* defaults as in its code): which
// checkpoint(s) of a pretraining run, which protocol (linear probe, finetune, kNN), and the fc_* optimisation
// flags.
#pragma once

#include <cstdint>
#include <string>

namespace flatclr::eval {

struct EvalConfig {
  // what to evaluate
  std::string checkpoint_dir;        // a pretraining run folder (or a folder holding the paper's checkpoints)
  int64_t transfer_from_epoch = -1;  // -1: the newest checkpoint
  bool all_checkpoints = false;      // every checkpoint_*.pth.tar of the folder, oldest first
  bool random_init = false;          // baseline: the same architecture, randomly initialised
  std::string transfer_mode = "linear_eval";  // linear_eval | finetune | knn
  std::string model;  // arch for checkpoints without a stored config (the paper's): "" = from the file

  // data
  std::string data = "./datasets";
  std::string
      dataset_name;  // "" = the dataset the encoder was pretrained on (cifar10 for foreign checkpoints)
  bool download = true;
  std::string bad_images = "skip";  // image folders: skip | stop on a file that cannot be decoded
  int64_t workers = 4;              // image folders: decoding threads
  double data_fraction = 1.0;       // class-stratified share of the labelled training set
  double test_fraction = 1.0;  // class-stratified share of the test split (quick checks only: not comparable)

  // linear probe / finetune (reference defaults)
  int64_t fc_epochs = 100;
  int64_t fc_batch_size = 4096;
  double fc_lr = 1.6;
  std::string fc_optimizer = "sgd";
  std::string fc_scheduler = "cosine";
  double fc_weight_decay = 0.0;
  double fc_momentum = 0.9;
  bool fc_augment = false;  // linear_eval: train through the frozen backbone with random crop + flip

  // kNN
  int64_t knn_k = 200;
  double knn_temperature = 0.1;

  // run
  int64_t eval_batch_size = 512;  // feature extraction batch
  std::string device = "auto";
  bool disable_cuda = false;
  int threads = 0;
  int64_t seed = 42;
  std::string progress = "auto";

  void validate() const;  // UsageError naming the flag
};

}  // namespace flatclr::eval
