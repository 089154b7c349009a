// libFuzzer target: resuming a run from an untrusted checkpoint (train/restore_state.h): the checkpoint
// file is read (io/checkpoint.h), and its encoder weights, optimizer state and fp16 loss-scaler state are put
// into a fresh model with each of the three optimizers flatclr builds (LARS, SGD, Adam) and a scaler. Any
// input must end in restored state or a UserError; a crash, a sanitizer report or another exception is a
// finding. What was restored must also be usable as the flags could have made it, else the run would go on
// with values no flag accepts: every group's options in make_optimizer's ranges (lr, weight decay >= 0,
// momentum in [0, 1); as PyTorch's optimizers: SGD's dampening in [0, 1], Adam's betas
// in [0, 1) and eps >= 0), the scaler's as PyTorch's GradScaler requires
// (scale > 0 and finite, growth_factor > 1, backoff_factor in (0, 1), growth_interval >= 1), and an optimizer
// step and a scaler update run on them. The seeds (fuzz/seeds/resume/) are real checkpoints of the model
// built here, made by scripts/gen/gen_resume_seeds.sh.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "flatclr/core/error.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/optim/lars.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/restore_state.h"
#include "fuzz_input.h"

namespace {

using flatclr::optim::OptimizerKind;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_resume: %s\n", what.c_str());
  std::abort();
}

// The model of the seeds: ResNet-10 at 1/32 width (2 stem channels), CIFAR stem, a 2-layer head to 16.
flatclr::models::ResNet make_model() {
  flatclr::models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes10;
  o.width_multiplier = 0.03125;
  o.head.num_layers = 2;
  o.head.out_dim = 16;
  torch::manual_seed(0);
  return flatclr::models::ResNet(o);
}

bool in_unit(double v) { return v >= 0 && v < 1; }

void check_options(OptimizerKind kind, const torch::optim::OptimizerOptions& options) {
  const double lr = options.get_lr();
  if (!(lr >= 0)) finding("restored lr " + std::to_string(lr));
  if (kind == OptimizerKind::kLars) {
    const auto& o = static_cast<const flatclr::optim::LARSOptions&>(options);
    if (!in_unit(o.momentum()) || !(o.weight_decay() >= 0) || !(o.eeta() >= 0))
      finding("restored LARS options out of range");
  } else if (kind == OptimizerKind::kSgd) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(options);
    if (!in_unit(o.momentum()) || !(o.weight_decay() >= 0) || !(o.dampening() >= 0 && o.dampening() <= 1))
      finding("restored SGD options out of range");
  } else {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(options);
    if (!in_unit(std::get<0>(o.betas())) || !in_unit(std::get<1>(o.betas())) || !(o.eps() >= 0) ||
        !(o.weight_decay() >= 0))
      finding("restored Adam options out of range");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = flatclr::fuzz::write_input("checkpoint_0001.pth.tar", data, size);
  flatclr::io::Checkpoint ckpt;
  try {
    ckpt = flatclr::io::load_checkpoint(path);
  } catch (const flatclr::UserError&) {
    return 0;
  }
  for (const auto kind : {OptimizerKind::kLars, OptimizerKind::kSgd, OptimizerKind::kAdam}) {
    auto model = make_model();
    auto optimizer = flatclr::optim::make_optimizer(kind, *model, 0.1, 1e-6, 0.9);
    flatclr::optim::GradScaler scaler({}, torch::kCPU);
    try {
      flatclr::train::restore_training_state(ckpt, path, model, *optimizer, &scaler);
    } catch (const flatclr::UserError&) {
      continue;
    }
    for (const auto& group : optimizer->param_groups()) check_options(kind, group.options());
    const double scale = scaler.scale_value();
    if (!(scale > 0) || !std::isfinite(scale)) finding("restored loss scale " + std::to_string(scale));
    const auto s = scaler.state_dict().toGenericDict();
    const double growth = s.at("growth_factor").toDouble(), backoff = s.at("backoff_factor").toDouble();
    if (!(growth > 1) || !(backoff > 0 && backoff < 1)) finding("restored scaler factors out of range");
    // One step as the run takes it: the schedule sets the lr, the scaler updates, the optimizer steps.
    flatclr::optim::set_lr(*optimizer, 0.1);
    for (auto& p : model->parameters()) p.mutable_grad() = torch::full_like(p, 1e-3);
    scaler.update(torch::zeros({1}));
    scaler.update(torch::ones({1}));
    optimizer->step();
  }
  return 0;
}
