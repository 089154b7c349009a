// The safetensors format (Hugging Face's; read by the `safetensors` Python package, PyTorch, JAX, ...):
//   8 bytes   N, the header's length, little-endian uint64
//   N bytes   a JSON object: "__metadata__" (string -> string) and, per tensor, its name ->
//             {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, offsets relative to the byte
//             area and end exclusive; padded with spaces to a multiple of 8 bytes
//   the byte area: every tensor's data, C order, little-endian, back to back in header order.
// Tensors are written from the CPU, contiguous; their names must be unique and must not be "__metadata__".
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace flatclr::io {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// The file's bytes. UserError for an unsupported dtype or a repeated name.
std::string safetensors_bytes(const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata);

}  // namespace flatclr::io
