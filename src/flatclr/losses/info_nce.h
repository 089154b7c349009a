// InfoNCE / NT-Xent (SimCLR, the paper's clr=simclr), a pure function.
//   l_i = -s_{i+}/tau + log( sum_{j != i} exp(s_ij/tau) )  (cross-entropy over [positive, 2N-2 negatives])
//   L   = mean over the 2N rows (both directions).
// The same value is backpropagated and logged. Equivalently l_i = log(1 + xi_i) = softplus(v_i).
#pragma once

#include "flatclr/losses/contrastive_output.h"

namespace flatclr::losses {

// z: [2N, D]; rows i and i+N are two views of one image. temperature > 0.
ContrastiveOutput info_nce_loss(const at::Tensor& z, double temperature);

// Per-row InfoNCE terms l_i, attached: [2N]. (Used by tests and diagnostics.)
at::Tensor info_nce_rows(const at::Tensor& similarity, double temperature);

}  // namespace flatclr::losses
