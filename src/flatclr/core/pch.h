// Precompiled header for every flatclr target: torch/torch.h alone costs ~18 s per translation unit.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>
