#include "flatclr/run/pretrain_run.h"

#include <torch/torch.h>

#include <iostream>

#include "flatclr/data/open_dataset.h"
#include "flatclr/data/subset.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/knn.h"
#include "flatclr/eval/split_knn.h"
#include "flatclr/report/commands.h"

namespace flatclr::run {

void KnnMonitor::on_start(const train::PretrainConfig& config, const train::RunStart& start) {
  const train::TrainSet& train_set = *start.train_set;
  data::OpenOptions open = config.data.open_options();
  open.download = false;
  device_ = train_set.device;
  if (!train_set.images.defined()) {
    // Streamed: a fixed class-stratified bank of the training split, the whole held-out split.
    open.streaming = data::Streaming::kOn;
    auto train =
        data::open_labelled_split(config.data.root, config.data.dataset_name, true, open, train_set.bad);
    const double share =
        std::min(1.0, static_cast<double>(config.knn_bank_size) / static_cast<double>(train.size()));
    train = train.subset(data::stratified_subset(train.labels(), train.num_classes(), share,
                                                 static_cast<uint64_t>(config.run.seed)));
    bank_split_ = std::make_shared<const data::LabelledSplit>(std::move(train));
    test_split_ = std::make_shared<const data::LabelledSplit>(
        data::open_labelled_split(config.data.root, config.data.dataset_name, false, open, train_set.bad));
    loader_.workers = std::max(1, open.threads);
    loader_.pin_memory = device_.is_cuda();
    std::cout << "online kNN: a bank of " << bank_split_->size() << " training images against "
              << test_split_->size() << " held-out images, streamed from disk" << std::endl;
    return;
  }
  test_ = data::load_labelled_split(config.data.root, config.data.dataset_name, /*train=*/false, open,
                                    *train_set.bad);
  train_index_ = torch::tensor(train_set.indices, torch::kLong).to(train_set.device);
  train_images_ = train_set.images;  // all of them (no copy); the subset is taken when measuring
  train_labels_ = train_set.labels.index_select(0, train_index_);
}

void KnnMonitor::on_epoch_end(train::EpochEnd& end) {
  train::EpochStats& stats = end.stats;
  models::ResNet& model = end.model;
  if (stats.epoch % every_ != 0) return;
  if (bank_split_) {
    eval::SplitKnnOptions o;
    o.k = 200;
    o.temperature = 0.1;
    o.batch_size = 256;
    o.loader = loader_;
    const auto r = eval::split_knn(model, bank_split_, test_split_, device_, o);
    model->train();
    stats.knn_top1 = r.counts.top1_rate();
    stats.knn_top5 = r.counts.top5_rate();
    return;
  }
  auto ftrain = eval::extract_features(model, train_images_.index_select(0, train_index_), 512, device_);
  auto ftest = eval::extract_features(model, test_.images, 512, device_);
  auto counts =
      eval::knn_evaluate(ftrain, train_labels_, ftest, test_.labels.to(device_), test_.num_classes, 200, 0.1);
  model->train();
  stats.knn_top1 = counts.top1_rate();
  stats.knn_top5 = counts.top5_rate();
}

void RunReport::on_end(const train::PretrainResult& result) {
  report::draw_plots(result.run_dir, std::cout);
  report::print_diagnosis(result.run_dir, std::cout, /*save=*/true);
}

train::PretrainResult pretrain(const train::PretrainConfig& config) {
  std::vector<train::PretrainObserver*> observers;
  KnnMonitor knn(config.knn_every > 0 ? config.knn_every : 1);
  RunReport report;
  if (config.knn_every > 0) observers.push_back(&knn);
  if (config.plots) observers.push_back(&report);
  return train::pretrain(config, observers);
}

}  // namespace flatclr::run
