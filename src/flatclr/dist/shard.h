// This rank's share of a global batch. The configured batch_size is the global batch (as SimCLR's TPU code):
// every rank computes the same global epoch order (a pure function of seed and epoch) and takes the
// contiguous slice [rank * B/W, (rank+1) * B/W) of each global batch, so the ranks read disjoint images and
// together the single-process batch, in its order.
#pragma once

#include <cstdint>
#include <vector>

namespace flatclr::dist {

// global_batch.size() must be divisible by world_size (PretrainConfig::validate checks batch_size).
std::vector<int64_t> rank_slice(const std::vector<int64_t>& global_batch, int rank, int world_size);

}  // namespace flatclr::dist
