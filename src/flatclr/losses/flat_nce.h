// FlatNCE (Chen et al. 2021, arXiv 2107.01152; as the paper's code computes it), a pure function.
//   d_ij = (s_ij - s_{i+}) / tau over the 2N-2 negatives j of row i;  v_i = logsumexp_j d_ij = log xi_i.
//   loss = mean_i exp(v_i - stopgrad(v_i)) - 1  +  stopgrad(InfoNCE)
// The first term has value exactly 0 and gradient mean_i grad v_i; the second is the InfoNCE value
// mean_i log(1 + xi_i), added detached so that the logged number is the familiar InfoNCE loss.
// The InfoNCE gradient of row i is sigmoid(v_i) = 1 - p_i+ times the FlatNCE gradient of that row.
#pragma once

#include "flatclr/losses/contrastive_output.h"

namespace flatclr::losses {

// z: [2N, D]; rows i and i+N are two views of one image. temperature > 0.
ContrastiveOutput flat_nce_loss(const at::Tensor& z, double temperature);

}  // namespace flatclr::losses
