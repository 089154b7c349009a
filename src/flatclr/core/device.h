// Picks the training device from --device / --disable_cuda.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace flatclr::core {

// "auto": cuda when a GPU is visible, else cpu. "cuda"/"cuda:N" without a GPU is a UserError naming --device.
c10::Device resolve_device(const std::string& name, bool disable_cuda);

}  // namespace flatclr::core
