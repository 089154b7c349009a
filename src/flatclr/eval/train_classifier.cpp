#include "flatclr/eval/train_classifier.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/core/progress.h"
#include "flatclr/core/rng.h"
#include "flatclr/data/crop_flip.h"
#include "flatclr/eval/accuracy.h"
#include "flatclr/eval/features.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/schedule.h"

namespace flatclr::eval {
namespace {

constexpr uint64_t kClassifierOrder = 0x636c73ull;  // "cls"

// Holds what the optimizer trains: the classifier, and the encoder when finetuning.
struct TrainedParts : torch::nn::Module {
  TrainedParts(models::ResNet encoder, torch::nn::Linear head, bool with_encoder) {
    if (with_encoder) register_module("encoder", encoder);
    register_module("head", head);
  }
};

TopKCounts evaluate(models::ResNet& model, torch::nn::Linear& head, data::SplitLoader& loader, int64_t batch,
                    const c10::Device& device) {
  torch::NoGradGuard no_grad;
  model->eval();
  head->eval();
  TopKCounts counts;
  loader.start_in_order(batch);
  data::SplitBatch b;
  while (loader.next(b)) {
    if (b.images.size(0) == 0) continue;
    auto logits = head(model->features(to_unit_float(b.images, device)));
    counts.add(topk_counts(logits, b.labels.to(device)));
  }
  return counts;
}

}  // namespace

ProbeResult train_classifier(models::ResNet& model, const ClassifierData& data, const ClassifierOptions& o,
                             const c10::Device& device,
                             const std::function<void(const EpochResult&)>& on_epoch) {
  const auto& cfg = o.probe;
  cfg.validate();
  model->to(device);
  for (auto& p : model->parameters()) p.set_requires_grad(!o.freeze_backbone);
  torch::manual_seed(cfg.seed);
  FLATCLR_CHECK(data.train && data.test && data.train->num_classes() == data.test->num_classes(),
                "train_classifier: splits missing or of different classes");
  torch::nn::Linear head(model->feature_dim(), data.train->num_classes());
  head->to(device);
  auto parts = std::make_shared<TrainedParts>(model, head, !o.freeze_backbone);
  auto optimizer = optim::make_optimizer(cfg.optimizer, *parts, cfg.lr, cfg.weight_decay, cfg.momentum);

  const int64_t n = data.train->size();
  data::SplitLoader train_loader(data.train, o.loader), test_loader(data.test, o.loader);
  const int64_t steps_per_epoch = (n + cfg.batch_size - 1) / cfg.batch_size;
  optim::LrSchedule schedule;
  schedule.kind = cfg.scheduler;
  schedule.base_lr = cfg.lr;
  schedule.warmup_steps = 0;
  schedule.total_steps = cfg.epochs * steps_per_epoch;
  schedule.validate();

  ProbeResult result;
  int64_t step = 0;
  std::vector<int64_t> order(n);
  for (int64_t epoch = 0; epoch < cfg.epochs; ++epoch) {
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    core::Rng rng(core::hash_key({kClassifierOrder, cfg.seed, static_cast<uint64_t>(epoch)}));
    for (int64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    core::Progress progress(o.progress,
                            (o.freeze_backbone ? "linear " : "finetune ") + std::to_string(epoch + 1) + "/" +
                                std::to_string(cfg.epochs),
                            steps_per_epoch, cfg.batch_size);
    if (o.freeze_backbone) {
      model->eval();
    } else {
      model->train();
    }
    head->train();
    double loss_sum = 0;
    int64_t seen = 0;
    TopKCounts train_counts;
    train_loader.start(order, cfg.batch_size);
    data::SplitBatch batch;
    for (int64_t s = 0; train_loader.next(batch); ++s) {
      // A batch whose every file was bad still takes its step of the schedule (as the in-memory order).
      const double lr = schedule.lr_at(step++);
      const auto rows = static_cast<int64_t>(batch.indices.size());
      if (rows == 0) continue;
      auto x = data::random_crop_flip(to_unit_float(batch.images, device), batch.indices, o.padding, cfg.seed,
                                      epoch);
      auto y = batch.labels.to(device);
      at::Tensor h;
      if (o.freeze_backbone) {
        torch::NoGradGuard no_grad;
        h = model->features(x);
      } else {
        h = model->features(x);
      }
      auto logits = head(h);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      optimizer->zero_grad();
      loss.backward();
      optim::set_lr(*optimizer, lr);
      optimizer->step();
      loss_sum += loss.item<double>() * static_cast<double>(rows);
      seen += rows;
      train_counts.add(topk_counts(logits.detach(), y));
      if ((s + 1) % 10 == 0 || s + 1 == steps_per_epoch)
        progress.update(s + 1, "loss " + std::to_string(loss.item<double>()));
    }
    progress.finish();
    auto test = evaluate(model, head, test_loader, o.eval_batch_size, device);
    EpochResult r;
    r.epoch = epoch + 1;
    r.train_loss = loss_sum / static_cast<double>(std::max<int64_t>(seen, 1));
    r.train_top1 = train_counts.top1_rate();
    r.test_top1 = test.top1_rate();
    r.test_top5 = test.top5_rate();
    result.add_epoch(r);
    result.train_images = seen;
    result.test_images = test.total;
    if (on_epoch) on_epoch(r);
  }
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  model->eval();
  return result;
}

}  // namespace flatclr::eval
