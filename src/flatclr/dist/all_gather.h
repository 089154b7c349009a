// All-gather that keeps the gradient (SimCLR's GatherLayer, solo-learn's gather): every rank's loss sees
// the features of every rank, and gradients flow back to the rank that computed them.
//
// Forward: y = [x_0; x_1; ...; x_{W-1}] on every rank. Backward: each rank r holds dL_r/dy; the objective
// of the group is J = sum_r L_r, so dJ/dx_r = sum_r' (dL_r'/dy)[rows of r]: all-reduce-sum the incoming
// gradient, then keep this rank's rows. (When every rank computes the same loss L from the gathered
// features, this gives W * dL/dx_r; averaging the parameter gradients over the W ranks then yields exactly
// the single-process gradient dL/dtheta, see grad_sync.h.)
#pragma once

#include <ATen/ATen.h>

#include "flatclr/dist/process_group.h"

namespace flatclr::dist {

// x: [n, ...], same shape on every rank -> [W*n, ...], rank r's rows at [r*n, (r+1)*n); differentiable.
// The group must outlive the autograd graph (the backward pass runs a collective on it).
at::Tensor all_gather_with_grad(const at::Tensor& x, ProcessGroup& group);

// z: [2n, D], rows i and i+n the two views of this rank's image i -> [2*W*n, D] in the single-process
// order [view 1 of rank 0..W-1 ; view 2 of rank 0..W-1], so rows j and j+W*n are again the two views of
// one image and the losses (losses/) apply unchanged. Differentiable.
at::Tensor gather_views(const at::Tensor& z, ProcessGroup& group);

}  // namespace flatclr::dist
