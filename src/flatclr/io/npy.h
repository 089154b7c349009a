// NumPy .npy files (format version 1.0), as numpy.save writes them and numpy.load reads them: the magic
// "\x93NUMPY", the version bytes 1 0, a little-endian uint16 header length, then an ASCII Python dict
//   {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes, then the array's
// bytes in C order, little-endian.
//
// NpyWriter streams the rows of an array whose row count is known only at the end (features computed batch
// by batch, images that fail to decode left out): its header has a fixed size (128 bytes, room for any
// shape) and is rewritten with the final row count by finish(), which then publishes the file atomically.
// An unfinished writer leaves no file.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flatclr/core/atomic_file.h"

namespace flatclr::io {

constexpr size_t kNpyHeaderBytes = 128;

// The header (magic to '\n', kNpyHeaderBytes long) of an array of `dtype` (float16, float32, float64, int64,
// int32, uint8, bool) and `shape`. UserError for another dtype.
std::string npy_header(at::ScalarType dtype, const std::vector<int64_t>& shape);

class NpyWriter {
 public:
  // Rows of shape `row_shape` (empty: a 1-D array of scalars) and type `dtype`.
  NpyWriter(const std::string& path, at::ScalarType dtype, std::vector<int64_t> row_shape);

  // rows: [n, row_shape...], any device; converted to `dtype` (InternalError on a shape mismatch).
  void append(const at::Tensor& rows);
  int64_t rows() const { return rows_; }
  // Writes the final header and renames the file into place.
  void finish();

 private:
  core::AtomicFileWriter file_;
  at::ScalarType dtype_;
  std::vector<int64_t> row_shape_;
  int64_t rows_ = 0;
};

}  // namespace flatclr::io
