#include "flatclr/io/npy_map.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <vector>

#include "flatclr/core/error.h"

namespace flatclr::io {
namespace {

at::ScalarType dtype_of(const std::string& descr, const std::string& path) {
  static const std::pair<const char*, at::ScalarType> kTypes[] = {
      {"<f2", at::kHalf}, {"<f4", at::kFloat}, {"<f8", at::kDouble}, {"<i4", at::kInt},
      {"<i8", at::kLong}, {"|u1", at::kByte},  {"|b1", at::kBool}};
  for (const auto& [d, t] : kTypes) {
    if (descr == d) return t;
  }
  fail(path, ": .npy dtype '", descr, "' is not one flatclr reads (float16/32/64, int32/64, uint8, bool)");
}

// Closes the descriptor on every path out of map_npy.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

at::Tensor map_npy(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) fail("cannot open ", path, " (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail("cannot stat ", path, " (", std::strerror(errno), ")");
  const auto file_size = static_cast<uint64_t>(st.st_size);
  char prefix[12] = {};
  if (file_size < 10 || ::pread(f.fd, prefix, sizeof prefix, 0) < 10 ||
      std::memcmp(prefix, "\x93NUMPY", 6) != 0) {
    fail(path, ": not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(prefix[6]);
  uint64_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(prefix[8]) | (static_cast<unsigned char>(prefix[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<uint64_t>(static_cast<unsigned char>(prefix[8 + i])) << (8 * i);
    offset = 12;
  } else {
    fail(path, ": .npy format version ", major, " (flatclr reads 1, 2 and 3)");
  }
  if (header_len > (1u << 20) || offset + header_len > file_size) fail(path, ": truncated .npy header");
  std::string header(header_len, '\0');
  if (::pread(f.fd, header.data(), header_len, static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(header_len))
    fail(path, ": cannot read the .npy header (", std::strerror(errno), ")");
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    fail(path, ": .npy header without 'descr': ", header);
  const at::ScalarType dtype = dtype_of(m[1], path);
  if (!std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*False)")))
    fail(path, ": .npy array in Fortran order (flatclr reads C order only)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    fail(path, ": .npy header without 'shape': ", header);
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  const std::regex number(R"(\d+)");
  uint64_t count = 1;
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
    shape.push_back(std::stoll(it->str()));
    count *= static_cast<uint64_t>(shape.back());
  }
  const uint64_t data_offset = offset + header_len;
  const uint64_t bytes = count * at::elementSize(dtype);
  if (data_offset + bytes > file_size) {
    fail(path, ": ", file_size, " bytes, but its header describes ", data_offset + bytes,
         " (a truncated or still-being-written file?)");
  }
  if (bytes == 0) return at::empty(shape, at::TensorOptions().dtype(dtype));
  // Map from the start of the file (offsets must be page-aligned) and point past the header.
  const size_t length = static_cast<size_t>(data_offset + bytes);
  void* base = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, f.fd, 0);
  if (base == MAP_FAILED) fail("cannot memory-map ", path, " (", std::strerror(errno), ")");
  auto* data = static_cast<char*>(base) + data_offset;
  return at::from_blob(
      data, shape, [base, length](void*) { ::munmap(base, length); }, at::TensorOptions().dtype(dtype));
}

}  // namespace flatclr::io
