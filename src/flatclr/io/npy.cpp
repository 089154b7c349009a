#include "flatclr/io/npy.h"

#include <ATen/ATen.h>

#include <sstream>

#include "flatclr/core/error.h"

namespace flatclr::io {
namespace {

std::string descr(at::ScalarType t) {
  switch (t) {
    case at::kHalf:
      return "<f2";
    case at::kFloat:
      return "<f4";
    case at::kDouble:
      return "<f8";
    case at::kLong:
      return "<i8";
    case at::kInt:
      return "<i4";
    case at::kByte:
      return "|u1";
    case at::kBool:
      return "|b1";
    default:
      fail("cannot write a ", c10::toString(t), " array as .npy (float16/32/64, int32/64, uint8, bool)");
  }
}

}  // namespace

std::string npy_header(at::ScalarType dtype, const std::vector<int64_t>& shape) {
  std::ostringstream dict;
  dict << "{'descr': '" << descr(dtype) << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict << (i ? ", " : "") << shape[i];
  dict << (shape.size() == 1 ? ",), }" : "), }");
  std::string body = dict.str();
  const size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  FLATCLR_CHECK(prefix + body.size() + 1 <= kNpyHeaderBytes, "npy header too long: ", body);
  body.append(kNpyHeaderBytes - prefix - body.size() - 1, ' ');
  body += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<uint16_t>(body.size());
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>(len >> 8);
  return out + body;
}

NpyWriter::NpyWriter(const std::string& path, at::ScalarType dtype, std::vector<int64_t> row_shape)
    : file_(path), dtype_(dtype), row_shape_(std::move(row_shape)) {
  std::vector<int64_t> shape{0};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  file_.write(npy_header(dtype_, shape));  // rewritten by finish()
}

void NpyWriter::append(const at::Tensor& rows) {
  FLATCLR_CHECK(rows.dim() == static_cast<int64_t>(row_shape_.size()) + 1, "npy rows of shape ", rows.sizes(),
                " for rows of ", row_shape_.size(), " dimensions");
  for (size_t i = 0; i < row_shape_.size(); ++i)
    FLATCLR_CHECK(rows.size(static_cast<int64_t>(i) + 1) == row_shape_[i], "npy rows of shape ",
                  rows.sizes());
  const at::Tensor host = rows.detach().to(at::kCPU).to(dtype_).contiguous();
  file_.write(std::string_view(static_cast<const char*>(host.data_ptr()), host.nbytes()));
  rows_ += rows.size(0);
}

void NpyWriter::finish() {
  std::vector<int64_t> shape{rows_};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  file_.write_at(0, npy_header(dtype_, shape));
  file_.commit();
}

}  // namespace flatclr::io
