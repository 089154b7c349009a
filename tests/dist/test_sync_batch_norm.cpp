// SyncBatchNorm on a 2-rank Gloo group (threads) against LibTorch's BatchNorm on the concatenated global
// batch, float64: outputs, input gradients, the sum over ranks of the weight/bias gradients (the group
// objective J = sum_r L_r, see all_gather.h), running statistics after two steps, also with unequal
// local batch sizes; and with one process it equals LibTorch's BatchNorm.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist_test_util.h"
#include "flatclr/dist/sync_batch_norm.h"

namespace flatclr::dist {
namespace {

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Case {
  std::vector<int64_t> shape;       // global input shape [N, C, *]
  std::vector<int64_t> local_rows;  // rows per rank
};

void check_against_global_batch_norm(const Case& k) {
  const int w = static_cast<int>(k.local_rows.size());
  const int64_t c = k.shape[1];
  const bool two_d = k.shape.size() == 4;
  torch::manual_seed(3);
  auto weight = torch::rand({c}, torch::kDouble) + 0.5, bias = torch::randn({c}, torch::kDouble);
  std::vector<at::Tensor> X, G;  // two steps
  for (int s = 0; s < 2; ++s) {
    X.push_back(torch::randn(k.shape, torch::kDouble) * 3 + 1);
    G.push_back(torch::randn(k.shape, torch::kDouble));
  }
  std::vector<int64_t> offset{0};
  for (auto rows : k.local_rows) offset.push_back(offset.back() + rows);

  // Reference: one BatchNorm on the whole batch.
  torch::nn::AnyModule ref;
  std::vector<at::Tensor> ref_params, ref_buffers;
  auto make = [&](auto module) {
    module->to(torch::kDouble);
    torch::NoGradGuard ng;
    module->weight.copy_(weight);
    module->bias.copy_(bias);
    return module;
  };
  std::shared_ptr<torch::nn::Module> ref_module;
  if (two_d) {
    auto m = make(torch::nn::BatchNorm2d(c));
    ref_module = m.ptr();
    ref = torch::nn::AnyModule(m);
  } else {
    auto m = make(torch::nn::BatchNorm1d(c));
    ref_module = m.ptr();
    ref = torch::nn::AnyModule(m);
  }
  std::vector<at::Tensor> ref_y, ref_dx;
  at::Tensor ref_dw, ref_db;
  for (int s = 0; s < 2; ++s) {
    auto x = X[s].clone().requires_grad_();
    auto y = ref.forward(x);
    ref_module->zero_grad();
    (y * G[s]).sum().backward();
    ref_y.push_back(y.detach());
    ref_dx.push_back(x.grad());
  }
  ref_dw = ref_module->named_parameters()["weight"].grad().clone();
  ref_db = ref_module->named_parameters()["bias"].grad().clone();
  auto ref_state = ref_module->named_buffers();

  std::vector<std::vector<at::Tensor>> y(w), dx(w);
  std::vector<at::Tensor> dw(w), db(w);
  std::vector<torch::OrderedDict<std::string, at::Tensor>> buffers(w);
  testing::run_ranks(w, [&](ProcessGroup& group) {
    const int r = group.rank();
    std::shared_ptr<torch::nn::Module> bn;
    torch::nn::AnyModule any;
    auto sync = std::make_shared<SyncBatchNorm>(std::shared_ptr<ProcessGroup>(&group, [](ProcessGroup*) {}));
    if (two_d) {
      auto m = make(models::BatchNorm2d(c));
      m->sync = sync;
      bn = m.ptr();
      any = torch::nn::AnyModule(m);
    } else {
      auto m = make(models::BatchNorm1d(c));
      m->sync = sync;
      bn = m.ptr();
      any = torch::nn::AnyModule(m);
    }
    for (int s = 0; s < 2; ++s) {
      auto x = X[s].narrow(0, offset[r], k.local_rows[r]).clone().requires_grad_();
      auto out = any.forward(x);
      bn->zero_grad();
      (out * G[s].narrow(0, offset[r], k.local_rows[r])).sum().backward();
      y[r].push_back(out.detach());
      dx[r].push_back(x.grad());
    }
    dw[r] = bn->named_parameters()["weight"].grad().clone();
    db[r] = bn->named_parameters()["bias"].grad().clone();
    buffers[r] = bn->named_buffers();
  });

  at::Tensor sum_dw = torch::zeros_like(ref_dw), sum_db = torch::zeros_like(ref_db);
  for (int r = 0; r < w; ++r) {
    for (int s = 0; s < 2; ++s) {
      const double dy = max_diff(y[r][s], ref_y[s].narrow(0, offset[r], k.local_rows[r]));
      const double dg = max_diff(dx[r][s], ref_dx[s].narrow(0, offset[r], k.local_rows[r]));
      EXPECT_LT(dy, 1e-12) << "rank " << r << " step " << s << " output";
      EXPECT_LT(dg, 1e-12) << "rank " << r << " step " << s << " input gradient";
    }
    sum_dw += dw[r];
    sum_db += db[r];
    for (const auto& name : {"running_mean", "running_var"}) {
      const double d = max_diff(buffers[r][name], ref_state[name]);
      EXPECT_LT(d, 1e-12) << "rank " << r << " " << name << " max |difference| " << d;
    }
    EXPECT_EQ(buffers[r]["num_batches_tracked"].item<int64_t>(), 2);
  }
  EXPECT_LT(max_diff(sum_dw, ref_dw), 1e-12) << "weight gradient summed over ranks";
  EXPECT_LT(max_diff(sum_db, ref_db), 1e-12) << "bias gradient summed over ranks";
}

TEST(SyncBatchNorm, TwoRanksEqualBatchNorm2dOnTheGlobalBatchFloat64) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  check_against_global_batch_norm({{8, 3, 4, 5}, {4, 4}});
}

TEST(SyncBatchNorm, UnequalLocalBatchesFloat64) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  check_against_global_batch_norm({{8, 3, 4, 5}, {5, 3}});
}

TEST(SyncBatchNorm, TwoRanksEqualBatchNorm1dFloat64) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  check_against_global_batch_norm({{10, 6}, {5, 5}});
}

// 1x1 maps (the input of a head's BatchNorm2d after global pooling): on CUDA, like 2-D inputs, the path of
// the batch-norm backward that needs the saved statistics defined.
TEST(SyncBatchNorm, OneByOneMapsFloat64) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  check_against_global_batch_norm({{8, 5, 1, 1}, {3, 5}});
}

// affine=false (no weight, no bias): outputs and input gradients against BatchNorm2d on the global batch.
TEST(SyncBatchNorm, WithoutAffineParametersFloat64) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  torch::manual_seed(11);
  auto x = torch::randn({6, 2, 3, 3}, torch::kDouble) * 2 - 1, g = torch::randn({6, 2, 3, 3}, torch::kDouble);
  torch::nn::BatchNorm2d ref(torch::nn::BatchNormOptions(2).affine(false));
  ref->to(torch::kDouble);
  auto xr = x.clone().requires_grad_();
  auto yr = ref->forward(xr);
  (yr * g).sum().backward();
  testing::run_ranks(2, [&](ProcessGroup& group) {
    const int r = group.rank();
    models::BatchNorm2d bn(torch::nn::BatchNormOptions(2).affine(false));
    bn->to(torch::kDouble);
    bn->sync = std::make_shared<SyncBatchNorm>(std::shared_ptr<ProcessGroup>(&group, [](ProcessGroup*) {}));
    auto xl = x.narrow(0, 3 * r, 3).clone().requires_grad_();
    auto y = bn->forward(xl);
    (y * g.narrow(0, 3 * r, 3)).sum().backward();
    EXPECT_LT(max_diff(y, yr.detach().narrow(0, 3 * r, 3)), 1e-12) << "rank " << r;
    EXPECT_LT(max_diff(xl.grad(), xr.grad().narrow(0, 3 * r, 3)), 1e-12) << "rank " << r;
    EXPECT_LT(max_diff(bn->named_buffers()["running_var"], ref->named_buffers()["running_var"]), 1e-12);
  });
}

TEST(SyncBatchNorm, OneProcessEqualsLibTorchBatchNorm) {
  auto group = std::make_shared<ProcessGroup>(DistEnv{}, "gloo", 10);
  torch::manual_seed(5);
  models::BatchNorm2d bn(4);
  torch::nn::BatchNorm2d ref(4);
  bn->to(torch::kDouble);
  ref->to(torch::kDouble);
  bn->sync = std::make_shared<SyncBatchNorm>(group);
  auto x = torch::randn({6, 4, 3, 3}, torch::kDouble) * 2 - 1;
  auto g = torch::randn_like(x);
  auto x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
  auto y1 = bn(x1), y2 = ref(x2);
  (y1 * g).sum().backward();
  (y2 * g).sum().backward();
  EXPECT_LT(max_diff(y1, y2), 1e-12);
  EXPECT_LT(max_diff(x1.grad(), x2.grad()), 1e-12);
  EXPECT_LT(max_diff(bn->weight.grad(), ref->weight.grad()), 1e-12);
  EXPECT_LT(max_diff(bn->running_var, ref->running_var), 1e-12);
  bn->eval();  // eval mode: the running statistics, no synchronisation
  ref->eval();
  EXPECT_LT(max_diff(bn(x), ref(x)), 1e-12);
}

// One process on the GPU, float64, against LibTorch's BatchNorm there: 2-D inputs, 1x1 maps and ordinary
// maps. The backward of 2-D inputs and 1x1 maps takes CUDA's non-fused kernel, which asserts that the saved
// statistics are defined (empty is fine). Skipped without a GPU (scripts/gpu-check runs it on one).
TEST(SyncBatchNorm, OneProcessOnTheGpuEqualsBatchNormFor2dAnd1x1Inputs_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  auto group = std::make_shared<ProcessGroup>(DistEnv{}, "gloo", 10);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble).device(torch::kCUDA);
  for (const auto& shape : std::vector<std::vector<int64_t>>{{10, 6}, {8, 6, 1, 1}, {8, 6, 4, 5}}) {
    torch::manual_seed(9);
    const auto x = torch::randn(shape, opts) * 2 - 1, g = torch::randn(shape, opts);
    auto x1 = x.clone().requires_grad_(), x2 = x.clone().requires_grad_();
    at::Tensor y1, y2, dw1, dw2;
    if (shape.size() == 2) {
      models::BatchNorm1d bn(6);
      torch::nn::BatchNorm1d ref(6);
      bn->to(opts.device(), torch::kDouble);
      ref->to(opts.device(), torch::kDouble);
      bn->sync = std::make_shared<SyncBatchNorm>(group);
      y1 = bn(x1), y2 = ref(x2);
      (y1 * g).sum().backward();
      (y2 * g).sum().backward();
      dw1 = bn->weight.grad(), dw2 = ref->weight.grad();
    } else {
      models::BatchNorm2d bn(6);
      torch::nn::BatchNorm2d ref(6);
      bn->to(opts.device(), torch::kDouble);
      ref->to(opts.device(), torch::kDouble);
      bn->sync = std::make_shared<SyncBatchNorm>(group);
      y1 = bn(x1), y2 = ref(x2);
      (y1 * g).sum().backward();
      (y2 * g).sum().backward();
      dw1 = bn->weight.grad(), dw2 = ref->weight.grad();
    }
    EXPECT_LT(max_diff(y1, y2), 1e-12) << shape.size() << "-d";
    EXPECT_LT(max_diff(x1.grad(), x2.grad()), 1e-12) << shape.size() << "-d";
    EXPECT_LT(max_diff(dw1, dw2), 1e-12) << shape.size() << "-d";
  }
}

// Mixed precision (found by a 2-process --precision=bf16 run: "mixed dtype (CPU): expect parameter to have
// scalar type of Float"): a bf16 input is normalised in float32, equal to the float32 computation on the same
// (bf16-rounded) values; its gradient comes back in bf16.
TEST(SyncBatchNorm, Bf16InputIsNormalisedInFloat32) {
  auto group = std::make_shared<ProcessGroup>(DistEnv{}, "gloo", 10);
  torch::manual_seed(6);
  models::BatchNorm2d bn(4), ref(4);
  bn->sync = std::make_shared<SyncBatchNorm>(group);
  ref->sync = std::make_shared<SyncBatchNorm>(group);
  const auto x = (torch::randn({6, 4, 3, 3}) * 2 - 1).to(torch::kBFloat16);
  auto xb = x.clone().requires_grad_(), xf = x.to(torch::kFloat).requires_grad_();
  auto yb = bn(xb), yf = ref(xf);
  EXPECT_EQ(yb.scalar_type(), torch::kFloat);
  EXPECT_LT(max_diff(yb, yf), 1e-6);
  const auto g = torch::randn_like(yf);
  (yb * g).sum().backward();
  (yf * g).sum().backward();
  EXPECT_EQ(xb.grad().scalar_type(), torch::kBFloat16);
  EXPECT_LT(max_diff(xb.grad().to(torch::kFloat), xf.grad()), 1e-2 * xf.grad().abs().max().item<double>());
  EXPECT_LT(max_diff(bn->weight.grad(), ref->weight.grad()), 1e-5);
  EXPECT_LT(max_diff(bn->running_var, ref->running_var), 1e-6);
}

}  // namespace
}  // namespace flatclr::dist
