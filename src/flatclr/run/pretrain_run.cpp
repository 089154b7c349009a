#include "flatclr/run/pretrain_run.h"

#include <torch/torch.h>

#include <iostream>

#include "flatclr/data/open_dataset.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/knn.h"
#include "flatclr/report/commands.h"

namespace flatclr::run {

void KnnMonitor::on_start(const train::PretrainConfig& config, const train::RunStart& start) {
  const train::TrainSet& train_set = *start.train_set;
  data::OpenOptions open = config.data.open_options();
  open.download = false;
  test_ = data::load_labelled_split(config.data.root, config.data.dataset_name, /*train=*/false, open,
                                    *train_set.bad);
  train_index_ = torch::tensor(train_set.indices, torch::kLong).to(train_set.device);
  train_images_ = train_set.images;  // all of them (no copy); the subset is taken when measuring
  train_labels_ = train_set.labels.index_select(0, train_index_);
  device_ = train_set.device;
}

void KnnMonitor::on_epoch_end(train::EpochEnd& end) {
  train::EpochStats& stats = end.stats;
  models::ResNet& model = end.model;
  if (stats.epoch % every_ != 0) return;
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
