// A pretraining run as the `flatclr` command makes it: the training loop (train/pretrain.h) with the
// observers that belong to other areas attached from here, above both train/ and eval/ and report/:
//   KnnMonitor   every knn_every epochs, weighted cosine kNN (k 200, T 0.1) of the encoder features h of the
//                training subset against the whole test split (eval/knn.h); its top-1/top-5 go to the epoch
//                line, metrics.jsonl and TensorBoard. For a folder streamed from disk (ImageNet-sized), the
//                bank is a fixed class-stratified subset of knn_bank_size training images and both splits
//                are streamed as the evaluation reads them (Resize 256 + CenterCrop 224, eval/split_knn.h);
//                memory: the bank and a few batches;
//   RunReport    at the end, the PNG plots and the diagnosis in plain words (report/).
#pragma once

#include <memory>

#include "flatclr/data/dataset.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/split_loader.h"
#include "flatclr/train/observer.h"
#include "flatclr/train/pretrain.h"

namespace flatclr::run {

class KnnMonitor : public train::PretrainObserver {
 public:
  // every: epochs between two measurements (> 0).
  explicit KnnMonitor(int64_t every) : every_(every) {}
  void on_start(const train::PretrainConfig& config, const train::RunStart& start) override;
  void on_epoch_end(train::EpochEnd& end) override;

 private:
  int64_t every_;
  // in memory (CIFAR, small folders)
  data::Dataset test_;
  at::Tensor train_images_, train_index_, train_labels_;
  c10::Device device_ = c10::kCPU;
  // streamed folders
  std::shared_ptr<const data::LabelledSplit> bank_split_, test_split_;
  data::SplitLoaderOptions loader_;
};

class RunReport : public train::PretrainObserver {
 public:
  void on_end(const train::PretrainResult& result) override;
};

// train::pretrain with the observers the configuration asks for (knn_every, plots).
train::PretrainResult pretrain(const train::PretrainConfig& config);

}  // namespace flatclr::run
