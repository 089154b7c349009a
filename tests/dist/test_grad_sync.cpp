// Gradient averaging and weight broadcast on a 2-rank Gloo group (threads): buckets split across dtypes
// and sizes give the exact mean of the two ranks' gradients; a missing gradient counts as zero; after
// broadcast_module every rank holds rank 0's parameters and buffers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist_test_util.h"
#include "flatclr/dist/grad_sync.h"

namespace flatclr::dist {
namespace {

TEST(GradSync, AveragesGradientsAcrossBucketsAndDtypes) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const std::vector<std::vector<int64_t>> shapes{{3, 4}, {5}, {2, 2, 2}, {7}, {1}};
  const std::vector<at::ScalarType> dtypes{torch::kFloat, torch::kFloat, torch::kDouble, torch::kFloat,
                                           torch::kDouble};
  torch::manual_seed(2);
  std::vector<std::vector<at::Tensor>> grads(2);  // [rank][param]
  for (int r = 0; r < 2; ++r)
    for (size_t i = 0; i < shapes.size(); ++i) grads[r].push_back(torch::randn(shapes[i], dtypes[i]));
  std::vector<std::vector<at::Tensor>> out(2);
  testing::run_ranks(2, [&](ProcessGroup& group) {
    const int r = group.rank();
    std::vector<at::Tensor> params;
    for (size_t i = 0; i < shapes.size(); ++i) {
      auto p = torch::zeros(shapes[i], dtypes[i]).requires_grad_();
      // Parameter 3 has no gradient on rank 1 (e.g. an unused layer): it counts as zeros.
      if (!(i == 3 && r == 1)) p.mutable_grad() = grads[r][i].clone();
      params.push_back(p);
    }
    average_gradients(params, group, /*bucket_bytes=*/40);  // several buckets
    for (auto& p : params) out[r].push_back(p.grad());
  });
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto expected = i == 3 ? grads[0][i] / 2 : (grads[0][i] + grads[1][i]) / 2;
    for (int r = 0; r < 2; ++r) {
      ASSERT_TRUE(out[r][i].defined());
      EXPECT_TRUE(torch::allclose(out[r][i], expected, 1e-6, 1e-7)) << "param " << i << " rank " << r;
    }
  }
}

TEST(GradSync, BroadcastModuleCopiesRankZerosParametersAndBuffers) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  std::vector<torch::OrderedDict<std::string, at::Tensor>> params(2), buffers(2);
  testing::run_ranks(2, [&](ProcessGroup& group) {
    const int r = group.rank();
    torch::nn::Sequential net(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4));
    {
      torch::NoGradGuard ng;
      for (auto& p : net->parameters()) p.fill_(r + 1.5);
      for (auto& b : net->buffers()) b.fill_(r + 7);
    }
    broadcast_module(*net, group);
    params[r] = net->named_parameters();
    buffers[r] = net->named_buffers();
  });
  for (int r = 0; r < 2; ++r) {
    for (auto& p : params[r]) EXPECT_TRUE(torch::all(p.value() == 1.5).item<bool>()) << p.key();
    for (auto& b : buffers[r]) EXPECT_TRUE(torch::all(b.value() == 7).item<bool>()) << b.key();
  }
}

}  // namespace
}  // namespace flatclr::dist
