#include "flatclr/train/step_monitor.h"

#include <torch/torch.h>

#include <cmath>

#include "flatclr/core/error.h"
#include "flatclr/losses/diagnostics.h"
#include "flatclr/losses/pair_accuracy.h"

namespace flatclr::train {

std::string tag_for_key(const std::string& key) {
  static const std::vector<std::string> loss = {"info_nce", "mi_estimate", "log_k", "top1", "top5"};
  static const std::vector<std::string> perf = {"images_per_s", "data_wait_share", "step_time_s"};
  for (const auto& k : loss)
    if (key == k) return "loss/" + key;
  for (const auto& k : perf)
    if (key == k) return "perf/" + key;
  if (key.rfind("knn_", 0) == 0 || key.rfind("eval_", 0) == 0) return "eval/" + key;
  return "diag/" + key;
}

StepMonitor::StepMonitor(double temperature, int64_t batch_size, int64_t rank_every)
    : temperature_(temperature), batch_size_(batch_size), rank_every_(rank_every) {
  FLATCLR_CHECK(temperature > 0 && batch_size >= 2 && rank_every >= 0, "temperature ", temperature, " batch ",
                batch_size, " rank_every ", rank_every);
}

bool StepMonitor::wants_embeddings() const {
  return rank_every_ > 0 && intervals_ % rank_every_ == 0 && diag_.empty() && !rank_z_.defined();
}

void StepMonitor::observe_embeddings(const at::Tensor& h, const at::Tensor& z, const at::Tensor& applied) {
  // Copies on the device: a CUDA graph overwrites the step's outputs at its next replay.
  rank_h_ = h.detach().clone();
  rank_z_ = z.detach().clone();
  rank_applied_ = applied.defined() ? applied.detach().clone() : at::Tensor();
}

Record StepMonitor::flush_ranks() {
  Record ranks;
  if (!rank_z_.defined()) return ranks;
  const bool applied = !rank_applied_.defined() || rank_applied_.item<double>() > 0.5;
  if (applied) {
    const auto& z = rank_z_;
    ranks = {{"effective_rank_h", losses::effective_rank(rank_h_)},
             {"effective_rank_z", losses::effective_rank(z)},
             {"z_dim", static_cast<double>(z.size(1))},
             {"rank_max_z", static_cast<double>(std::min(z.size(0), z.size(1)))},
             {"z_dim_std", losses::normalized_dim_std(z)},
             {"z_dim_std_spread", 1.0 / std::sqrt(static_cast<double>(z.size(1)))}};
  }
  rank_h_ = rank_z_ = rank_applied_ = at::Tensor();
  return ranks;
}

losses::PairAccuracy StepMonitor::observe_step(const losses::ContrastiveOutput& out,
                                               const at::Tensor& grad_norm, const at::Tensor& applied,
                                               double data_seconds, double step_seconds) {
  auto d = losses::batch_diagnostics_vector(losses::batch_diagnostics(out.similarity, temperature_));
  auto acc = losses::positive_pair_accuracy(out.similarity);
  // grad_norm and applied live on the step's device already: no .to(device), which on a CPU run would look
  // like the host copy that the sync-free step must not make (tests/train/test_train_step_syncs.cpp).
  const auto scalar = [&](const at::Tensor& t, double otherwise) {
    return t.defined() ? t.detach().to(at::kDouble).reshape({1}) : torch::full({1}, otherwise, d.options());
  };
  diag_.push_back(torch::cat({d, acc.top1.to(at::kDouble).reshape({1}), acc.top5.to(at::kDouble).reshape({1}),
                              scalar(grad_norm, std::nan("")), scalar(applied, 1.0)}));
  data_seconds_ += data_seconds;
  step_seconds_ += step_seconds;
  return acc;
}

Record StepMonitor::flush(double lr) {
  Record r;
  const int64_t observed = steps_observed();
  int64_t steps = 0;  // whose update was made
  if (observed > 0) {
    const auto rows = torch::stack(diag_).cpu();  // the interval's one host sync
    const auto made = rows.select(1, losses::kNumBatchDiagnostics + 3).gt(0.5);
    const auto all = rows.index({made});
    steps = all.size(0);
    if (steps > 0) {
      auto mean = all.mean(0);
      auto mins = std::get<0>(all.min(0));
      auto m = mean.accessor<double, 1>();
      const char* const* names = losses::batch_diagnostic_names();
      for (int i = 0; i < losses::kNumBatchDiagnostics; ++i) {
        const std::string name = names[i];
        r.emplace_back(name, name == "p_pos_min" ? mins[i].item<double>() : m[i]);
        if (name == "mi_estimate") r.emplace_back("log_k", losses::log_k(batch_size_));
      }
      r.emplace_back("top1", m[losses::kNumBatchDiagnostics]);
      r.emplace_back("top5", m[losses::kNumBatchDiagnostics + 1]);
      r.emplace_back("grad_norm", m[losses::kNumBatchDiagnostics + 2]);
    }
  }
  r.emplace_back("lr", lr);
  for (auto& kv : flush_ranks()) r.push_back(kv);
  if (observed > 0 && step_seconds_ > 0) {
    r.emplace_back("images_per_s", static_cast<double>(observed * batch_size_) / step_seconds_);
    r.emplace_back("step_time_s", step_seconds_ / observed);
    r.emplace_back("data_wait_share", data_seconds_ / step_seconds_);
  }
  r.emplace_back("skipped_steps", static_cast<double>(observed - steps));
  diag_.clear();
  data_seconds_ = step_seconds_ = 0;
  ++intervals_;
  return r;
}

}  // namespace flatclr::train
