#include "flatclr/dist/shard.h"

#include "flatclr/core/error.h"

namespace flatclr::dist {

std::vector<int64_t> rank_slice(const std::vector<int64_t>& global_batch, int rank, int world_size) {
  const auto b = static_cast<int64_t>(global_batch.size());
  FLATCLR_CHECK(world_size >= 1 && rank >= 0 && rank < world_size && b % world_size == 0, "batch of ", b,
                " for rank ", rank, " of ", world_size);
  const int64_t n = b / world_size;
  return std::vector<int64_t>(global_batch.begin() + rank * n, global_batch.begin() + (rank + 1) * n);
}

}  // namespace flatclr::dist
