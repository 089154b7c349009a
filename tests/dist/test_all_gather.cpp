// all_gather_with_grad and gather_views on a 2-rank Gloo group (threads): the forward equals the
// concatenation, the gradient equals the single-process gradient of the group objective J = sum_r L_r
// (float64, autograd on the concatenated tensor), and the views come out in the single-process order.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist_test_util.h"
#include "flatclr/dist/all_gather.h"

namespace flatclr::dist {
namespace {

TEST(AllGather, GradientEqualsSingleProcessGradientFloat64) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const int w = 2;
  const int64_t n = 3, d = 4;
  torch::manual_seed(1);
  auto X = torch::randn({w * n, d}, torch::kDouble);
  std::vector<at::Tensor> G;  // a different loss on each rank
  for (int r = 0; r < w; ++r) G.push_back(torch::randn({w * n, d}, torch::kDouble));

  auto ref_x = X.clone().requires_grad_();
  at::Tensor J = torch::zeros({}, torch::kDouble);
  for (int r = 0; r < w; ++r) J = J + (ref_x.sin() * G[r]).sum();
  J.backward();

  std::vector<at::Tensor> grads(w), gathered(w);
  testing::run_ranks(w, [&](ProcessGroup& group) {
    const int r = group.rank();
    auto x = X.narrow(0, r * n, n).clone().requires_grad_();
    auto z = all_gather_with_grad(x, group);
    (z.sin() * G[r]).sum().backward();
    gathered[r] = z.detach();
    grads[r] = x.grad();
  });
  for (int r = 0; r < w; ++r) {
    EXPECT_TRUE(torch::equal(gathered[r], X)) << "rank " << r;
    const double diff = (grads[r] - ref_x.grad().narrow(0, r * n, n)).abs().max().item<double>();
    EXPECT_LT(diff, 1e-12) << "rank " << r << " max |grad difference| " << diff;
  }
}

TEST(AllGather, GatherViewsRestoresTheSingleProcessOrder) {
  if (!distributed_available()) GTEST_SKIP() << "built without c10d";
  const int w = 2;
  const int64_t n = 3, d = 2;
  // Single process: rows i and i + w*n are the two views of global image i.
  auto Z = torch::arange(2 * w * n * d, torch::kFloat).view({2 * w * n, d});
  std::vector<at::Tensor> out(w);
  testing::run_ranks(w, [&](ProcessGroup& group) {
    const int r = group.rank();
    // This rank's images are global images [r*n, (r+1)*n): its batch is [their view 1; their view 2].
    auto local = torch::cat({Z.narrow(0, r * n, n), Z.narrow(0, w * n + r * n, n)});
    out[r] = gather_views(local, group);
  });
  for (int r = 0; r < w; ++r) EXPECT_TRUE(torch::equal(out[r], Z)) << "rank " << r;
}

TEST(AllGather, OneProcessIsTheIdentity) {
  ProcessGroup group(DistEnv{}, "gloo", 10);
  auto z = torch::randn({6, 3});
  EXPECT_TRUE(torch::equal(gather_views(z, group), z));
  EXPECT_TRUE(torch::equal(all_gather_with_grad(z, group), z));
}

}  // namespace
}  // namespace flatclr::dist
