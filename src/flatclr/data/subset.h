// Class-stratified subsets of a labelled dataset, for semi-supervised evaluation on a fraction of the labels
// (as the paper's semi-supervised runs: e.g. 1% or 10% of the training labels). Every class keeps
// round(fraction * count_c) of its count_c examples (at least 1 when it has any), drawn by a seeded
// Fisher-Yates shuffle of that class's indices (flatclr::core::Rng keyed by (seed, class)), so the subset
// is a pure function of (labels, fraction, seed).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace flatclr::data {

// labels: [N] integer, each in [0, num_classes). fraction in (0, 1]; 1 returns every index.
// Returns the chosen indices into labels, sorted ascending, without duplicates.
// A fraction outside (0, 1] or a label out of range is a UserError.
std::vector<int64_t> stratified_subset(const at::Tensor& labels, int64_t num_classes, double fraction,
                                       uint64_t seed);

}  // namespace flatclr::data
