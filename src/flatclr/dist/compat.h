// The c10d headers and the one LibTorch version difference that matters here: in 1.13 the Gloo/NCCL
// process groups derive from c10d::ProcessGroup, in 2.x from c10d::Backend (same collective methods).
// FLATCLR_HAVE_DIST: CMake found c10d with Gloo; FLATCLR_HAVE_NCCL: c10d with NCCL. FLATCLR_HAVE_C10D:
// either.
#pragma once

#if defined(FLATCLR_HAVE_DIST) || defined(FLATCLR_HAVE_NCCL)
#define FLATCLR_HAVE_C10D 1
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef FLATCLR_HAVE_DIST
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef FLATCLR_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace flatclr::dist::compat {
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif
}  // namespace flatclr::dist::compat
#endif
