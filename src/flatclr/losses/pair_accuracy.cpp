#include "flatclr/losses/pair_accuracy.h"

#include <torch/torch.h>

#include "flatclr/losses/similarity.h"

namespace flatclr::losses {

PairAccuracy positive_pair_accuracy(const at::Tensor& s) {
  const int64_t two_n = s.size(0);
  auto pos = positive_similarity(s).unsqueeze(1);
  auto others = s.masked_fill(torch::eye(two_n, torch::TensorOptions().dtype(at::kBool).device(s.device())),
                              -std::numeric_limits<double>::infinity());
  // rank = number of other views at least as similar as the positive, not counting the positive itself.
  auto rank = (others >= pos).sum(1) - 1;
  return {(rank < 1).to(at::kFloat).mean(), (rank < 5).to(at::kFloat).mean()};
}

}  // namespace flatclr::losses
