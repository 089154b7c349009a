// The c10d headers: the collectives flatclr calls live on c10d::Backend (ProcessGroupGloo, ProcessGroupNCCL).
// FLATCLR_HAVE_DIST: CMake found Gloo's headers for c10d's Gloo backend; FLATCLR_HAVE_NCCL: NCCL's header for
// its NCCL backend. FLATCLR_HAVE_C10D: either.
#pragma once

#if defined(FLATCLR_HAVE_DIST) || defined(FLATCLR_HAVE_NCCL)
#define FLATCLR_HAVE_C10D 1

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef FLATCLR_HAVE_DIST
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef FLATCLR_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace flatclr::dist::compat {
using Collectives = c10d::Backend;
}  // namespace flatclr::dist::compat
#endif
