// A .npy array memory-mapped read-only as a CPU tensor: its bytes are read from disk (through the page
// cache) only where the tensor is touched, so an array larger than memory (the fixed features of a large
// training split, eval/feature_file.h) can be indexed row by row. Reads what io/npy.h writes and what
// numpy.save writes for the same types: format version 1.0 or 2.0, C order, little-endian float16/32/64,
// int32/64, uint8 or bool.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace flatclr::io {

// The array as a tensor of its shape and type, on the CPU, not writable (the mapping is read-only: writing
// into it faults). The tensor keeps the mapping alive; the file may be removed meanwhile. UserError naming
// `path` when it is not such a .npy file, or is shorter than its header says (a truncated copy).
at::Tensor map_npy(const std::string& path);

}  // namespace flatclr::io
