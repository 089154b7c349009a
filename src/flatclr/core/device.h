// Picks the training device from the run settings' device and disable_cuda.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace flatclr::core {

// "auto": cuda when a GPU is visible, else cpu. "cuda"/"cuda:N" without a GPU is a UserError naming the field
// run.device.
c10::Device resolve_device(const std::string& name, bool disable_cuda);

}  // namespace flatclr::core
