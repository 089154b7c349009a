// flatclr_dist_worker: one process of the data-parallel equivalence tests (test_data_parallel.cpp).
// Trains a tiny ResNet (res10 at 1/8 width, 8x8 images, LARS) for a few steps on a global batch of 8 with
// the trainer's own step (train::TrainStep: gather_views, loss, backward, average_gradients, LARS) on this
// rank's slice of the global batch, views made from the global image indices, as rank RANK of WORLD_SIZE
// (torchrun's variables; none = one process). Writes the per-step loss, the gradients of the first step
// (after averaging) and the final parameters and buffers to <out>.rank<R> (torch::pickle_save of a dict).
//
// usage: flatclr_dist_worker <simclr|flatclr> <sync_bn 0|1> <steps> <out> [die_rank die_step [timeout_s]]
// die_rank/die_step: that rank exits abruptly (_exit(3)) at the start of that step, to test that the other
// ranks fail with an error instead of hanging.
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "flatclr/data/augment_batch.h"
#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: flatclr_dist_worker <simclr|flatclr> <sync_bn 0|1> <steps> <out> [die_rank die_step "
                 "[timeout_s]]\n";
    return 2;
  }
  const std::string clr = argv[1];
  const bool sync_bn = std::string(argv[2]) == "1";
  const int steps = std::atoi(argv[3]);
  const std::string out = argv[4];
  const int die_rank = argc > 5 ? std::atoi(argv[5]) : -1;
  const int die_step = argc > 6 ? std::atoi(argv[6]) : -1;
  const double timeout_s = argc > 7 ? std::atof(argv[7]) : 60;
  int rank = 0;
  try {
    at::set_num_threads(1);
    const auto env = dist::dist_env_from([](const char* n) { return std::getenv(n); });
    rank = env.rank;
    dist::DataParallel dp(env, flatclr::dist::BackendChoice::kGloo, timeout_s, torch::kCPU);
    const uint64_t seed = 11;
    const int64_t global_batch = 8;
    torch::manual_seed(seed);
    auto images = torch::randint(0, 256, {32, 3, 8, 8}, torch::kByte);
    auto perm = torch::randperm(32, torch::kLong);
    std::vector<int64_t> order(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + 32);

    models::ResNetOptions o;
    o.arch = flatclr::models::Arch::kRes10;
    o.width_multiplier = 0.125;
    o.head.mode = clr == "flatclr"
                      ? flatclr::models::HeadMode::kLinear
                      : flatclr::models::HeadMode::kNonlinear;  // linear: a BatchNorm1d in the head too
    o.head.out_dim = 16;
    models::ResNet model(o);
    model->train();
    dp.prepare_model(*model, sync_bn);
    auto optimizer = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *model, 0.1, 1e-4, 0.9);
    const auto aug = data::AugmentConfig::for_dataset("cifar10", 8);
    train::StepOptions so;
    so.method = *losses::find_method(clr);
    train::TrainStep train_step(model, *optimizer, dp, so);  // the trainer's step

    c10::Dict<std::string, at::Tensor> result;
    std::vector<double> loss_values;
    for (int step = 0; step < steps; ++step) {
      if (rank == die_rank && step == die_step) ::_exit(3);
      auto batch = dp.local_batch(std::vector<int64_t>(order.begin() + step * global_batch,
                                                       order.begin() + (step + 1) * global_batch));
      auto idx = torch::tensor(batch, torch::kLong);
      auto views = data::make_two_views(images.index_select(0, idx), batch, aug, seed, /*epoch=*/0);
      const train::StepResult r = train_step.run(views, 0.1);
      if (!r.finite) throw std::runtime_error("a non-finite step");
      loss_values.push_back(r.out.info_nce.item<double>());
      if (step == 0) {  // the averaged gradients of the first step (the optimizer step leaves them in place)
        for (auto& p : model->named_parameters()) result.insert("grad/" + p.key(), p.value().grad().clone());
      }
    }
    result.insert("loss", torch::tensor(loss_values, torch::kDouble));
    for (auto& p : model->named_parameters()) result.insert("param/" + p.key(), p.value().detach().clone());
    for (auto& b : model->named_buffers()) result.insert("buffer/" + b.key(), b.value().clone());
    auto bytes = torch::pickle_save(c10::IValue(result));
    std::ofstream f(out + ".rank" + std::to_string(rank), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + out);
    return 0;
  } catch (const c10::Error& e) {
    std::cerr << "rank " << rank << ": error: " << e.what_without_backtrace() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "rank " << rank << ": error: " << e.what() << std::endl;
  }
  return 1;
}
