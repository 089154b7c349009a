#include "flatclr/eval/linear_probe.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <mutex>
#include <utility>

#include "flatclr/core/error.h"
#include "flatclr/core/rng.h"
#include "flatclr/eval/accuracy.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/schedule.h"

namespace flatclr::eval {
namespace {

constexpr uint64_t kProbeOrderStream = 0x70726f6265ull;  // "probe": the data-order stream of hash_key

// The epoch's visiting order of the N train rows: a Fisher-Yates shuffle keyed by (seed, epoch) only.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  core::Rng rng(core::hash_key({kProbeOrderStream, seed, static_cast<uint64_t>(epoch)}));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

// torch::nn::Linear(d, c) with PyTorch's default init drawn from a generator seeded with `seed`
// (nn.Linear.reset_parameters: kaiming_uniform_(W, a=sqrt(5)), then b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
// The constructor's own init draws from the global CPU generator, whose state is restored afterwards.
torch::nn::Linear seeded_linear(int64_t d, int64_t c, uint64_t seed) {
  at::Generator global = at::detail::getDefaultCPUGenerator();
  at::Tensor saved;
  {
    std::lock_guard<std::mutex> lock(global.mutex());
    saved = global.get_state();
  }
  torch::nn::Linear layer(d, c);
  {
    std::lock_guard<std::mutex> lock(global.mutex());
    global.set_state(saved);
  }
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const double fan_in = static_cast<double>(d);
  // Python's arithmetic, term by term: gain = sqrt(2 / (1 + a^2)), bound = sqrt(3) * gain / sqrt(fan_in).
  const double a = std::sqrt(5.0);
  const double weight_bound = std::sqrt(3.0) * (std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(fan_in));
  const double bias_bound = 1.0 / std::sqrt(fan_in);
  torch::NoGradGuard no_grad;
  layer->weight.uniform_(-weight_bound, weight_bound, gen);
  layer->bias.uniform_(-bias_bound, bias_bound, gen);
  return layer;
}

void check_split(const char* name, const at::Tensor& x, const at::Tensor& y, int64_t d, int64_t num_classes,
                 const c10::Device& device) {
  if (x.dim() != 2 || (d >= 0 && x.size(1) != d)) {
    fail("linear probe: ", name, " features must be [rows, ", d, "], got shape ", x.sizes());
  }
  if (!at::isFloatingType(x.scalar_type())) {
    fail("linear probe: ", name, " features must be floating point, got ", x.scalar_type());
  }
  if (y.dim() != 1 || y.size(0) != x.size(0)) {
    fail("linear probe: ", name, " labels must be [", x.size(0), "], got shape ", y.sizes());
  }
  if (!at::isIntegralType(y.scalar_type(), /*includeBool=*/false)) {
    fail("linear probe: ", name, " labels must be integers, got ", y.scalar_type());
  }
  if (x.device() != device && !x.device().is_cpu()) {
    fail("linear probe: ", name, " features are on ", x.device(), ": expected the CPU or ", device,
         ", where the probe trains");
  }
  if (y.numel() > 0) {
    const int64_t lo = y.min().item<int64_t>(), hi = y.max().item<int64_t>();
    if (lo < 0 || hi >= num_classes) {
      fail("linear probe: ", name, " labels must lie in [0, ", num_classes, "), got labels in [", lo, ", ",
           hi, "]");
    }
  }
}

// Rows of x, on `device` in float32: x may be on the CPU in another floating type (memory-mapped features).
at::Tensor rows_at(const at::Tensor& x, const at::Tensor& idx, const c10::Device& device) {
  return x.index_select(0, idx.to(x.device())).to(device, at::kFloat);
}

constexpr int64_t kStatsChunk = 8192;  // rows per chunk of the standardisation statistics

// Per-dimension mean and population std of x's rows, accumulated in float64 over chunks of rows (x may be
// larger than memory), returned in float32 on `device`; a std <= kStandardizeMinStd becomes 1.
std::pair<at::Tensor, at::Tensor> feature_stats(const at::Tensor& x, const c10::Device& device) {
  const int64_t n = x.size(0);
  auto sum = torch::zeros({x.size(1)}, torch::TensorOptions().dtype(at::kDouble).device(device));
  for (int64_t b = 0; b < n; b += kStatsChunk)
    sum += x.slice(0, b, std::min(n, b + kStatsChunk)).to(device, at::kDouble).sum(0);
  const auto mean = sum / static_cast<double>(n);
  auto sq = torch::zeros_like(sum);
  for (int64_t b = 0; b < n; b += kStatsChunk)
    sq += (x.slice(0, b, std::min(n, b + kStatsChunk)).to(device, at::kDouble) - mean).square().sum(0);
  auto std = (sq / static_cast<double>(n)).sqrt();
  std = torch::where(std > kStandardizeMinStd, std, torch::ones_like(std));
  return {mean.to(at::kFloat), std.to(at::kFloat)};
}

}  // namespace

void LinearProbeConfig::validate() const {
  if (epochs < 1) fail_usage(Field{"probe.epochs"}, "=", epochs, ": expected an integer >= 1");
  if (batch_size < 1) fail_usage(Field{"probe.batch_size"}, "=", batch_size, ": expected an integer >= 1");
  if (!(lr >= 0) || !std::isfinite(lr))
    fail_usage(Field{"probe.lr"}, "=", lr, ": expected a finite number >= 0");
  if (!(momentum >= 0 && momentum < 1)) {
    fail_usage(Field{"probe.momentum"}, "=", momentum, ": expected a number in [0, 1)");
  }
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) {
    fail_usage(Field{"probe.weight_decay"}, "=", weight_decay, ": expected a finite number >= 0");
  }
}

ProbeResult train_linear_probe(const at::Tensor& train_x, const at::Tensor& train_y, const at::Tensor& test_x,
                               const at::Tensor& test_y, int64_t num_classes, const LinearProbeConfig& config,
                               const std::function<void(const EpochResult&)>& on_epoch,
                               c10::optional<c10::Device> train_device) {
  config.validate();
  if (num_classes < 1) fail("linear probe: num_classes must be >= 1, got ", num_classes);
  if (train_x.dim() != 2 || train_x.size(0) < 1 || train_x.size(1) < 1) {
    fail("linear probe: train features must be [N, D] with N, D >= 1, got shape ", train_x.sizes());
  }
  const c10::Device device = train_device.value_or(train_x.device());
  const int64_t n = train_x.size(0), d = train_x.size(1);
  check_split("train", train_x, train_y, d, num_classes, device);
  check_split("test", test_x, test_y, d, num_classes, device);

  ProbeResult result;
  const at::Tensor& x = train_x;
  const at::Tensor& xt = test_x;
  const at::Tensor y = train_y.to(device, at::kLong), yt = test_y.to(device, at::kLong);
  at::Tensor mean, std;
  if (config.standardize) {
    std::tie(mean, std) = feature_stats(x, device);
    result.feature_mean = mean.cpu();
    result.feature_std = std.cpu();
  }
  // A batch of features as the layer sees them: gathered, on the device, float32, standardised.
  auto prepare = [&](at::Tensor rows) { return config.standardize ? (rows - mean) / std : rows; };

  auto layer = seeded_linear(d, num_classes, config.seed);
  layer->to(device);
  auto optimizer =
      optim::make_optimizer(config.optimizer, *layer, config.lr, config.weight_decay, config.momentum);
  const int64_t steps_per_epoch = (n + config.batch_size - 1) / config.batch_size;
  optim::LrSchedule schedule;
  schedule.kind = config.scheduler;
  schedule.base_lr = config.lr;
  schedule.warmup_steps = 0;
  schedule.total_steps = config.epochs * steps_per_epoch;
  schedule.final_lr = kProbeFinalLr;
  schedule.validate();
  result.lr_trace.reserve(static_cast<size_t>(schedule.total_steps));

  int64_t step = 0;
  for (int64_t epoch = 0; epoch < config.epochs; ++epoch) {
    const auto order = torch::tensor(epoch_order(n, config.seed, epoch), at::kLong).to(device);
    layer->train();
    // Device-side sums: one host synchronisation per epoch.
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(at::kDouble).device(device));
    auto correct = torch::zeros({}, y.options());
    double lr = 0;
    for (int64_t begin = 0; begin < n; begin += config.batch_size, ++step) {
      const auto idx = order.slice(0, begin, std::min(n, begin + config.batch_size));
      const auto xb = prepare(rows_at(x, idx, device)), yb = y.index_select(0, idx);
      lr = schedule.lr_at(step);
      optim::set_lr(*optimizer, lr);
      result.lr_trace.push_back(lr);
      optimizer->zero_grad();
      const auto logits = layer->forward(xb);
      const auto loss = torch::nn::functional::cross_entropy(logits, yb);
      loss.backward();
      optimizer->step();
      loss_sum += loss.detach().to(at::kDouble) * static_cast<double>(idx.size(0));
      correct += logits.detach().argmax(1).eq(yb).sum();
    }

    layer->eval();
    TopKCounts test_counts;
    {
      torch::NoGradGuard no_grad;
      for (int64_t begin = 0; begin < xt.size(0); begin += config.batch_size) {
        const int64_t end = std::min(xt.size(0), begin + config.batch_size);
        const auto xb = prepare(xt.slice(0, begin, end).to(device, at::kFloat));
        test_counts.add(topk_counts(layer->forward(xb), yt.slice(0, begin, end)));
      }
    }
    EpochResult er;
    er.epoch = epoch + 1;
    er.train_loss = loss_sum.item<double>() / static_cast<double>(n);
    er.train_top1 = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(n);
    er.test_top1 = test_counts.top1_rate();
    er.test_top5 = test_counts.top5_rate();
    er.lr = lr;
    result.add_epoch(er);
    if (on_epoch) on_epoch(er);
  }
  result.weight = layer->weight.detach().cpu().clone();
  result.bias = layer->bias.detach().cpu().clone();
  return result;
}

void ProbeResult::add_epoch(const EpochResult& r) {
  const bool first = history.empty();
  history.push_back(r);
  if (first || r.test_top1 > best_top1) {
    best_top1 = r.test_top1;
    best_epoch = r.epoch;
  }
  best_top5 = first ? r.test_top5 : std::max(best_top5, r.test_top5);
  last_top1 = r.test_top1;
  last_top5 = r.test_top5;
}

at::Tensor linear_probe_logits(const ProbeResult& probe, const at::Tensor& x) {
  FLATCLR_CHECK(probe.weight.defined() && probe.bias.defined(), "linear probe without a trained layer");
  if (x.dim() != 2 || x.size(1) != probe.weight.size(1)) {
    fail("linear probe: features must be [M, ", probe.weight.size(1), "], got shape ", x.sizes());
  }
  torch::NoGradGuard no_grad;
  at::Tensor xf = x.to(at::kFloat);
  if (probe.feature_mean.defined()) {
    xf = (xf - probe.feature_mean.to(x.device())) / probe.feature_std.to(x.device());
  }
  return torch::nn::functional::linear(xf, probe.weight.to(x.device()), probe.bias.to(x.device()));
}

}  // namespace flatclr::eval
