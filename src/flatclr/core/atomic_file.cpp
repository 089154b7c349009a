#include "flatclr/core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "flatclr/core/error.h"

namespace flatclr::core {

namespace fs = std::filesystem;

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  const fs::path dest(path_);
  const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  tmp_ = (dir / ("." + dest.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot write ", path_, ": ", std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::fail_io(int err) {
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  fail("cannot write ", path_, ": ", std::strerror(err), " (nothing was changed)");
}

void AtomicFileWriter::write_at(uint64_t offset, std::string_view bytes) {
  FLATCLR_CHECK(fd_ >= 0, "write after commit or failure: ", path_);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_io(errno);
    }
    done += static_cast<size_t>(n);
  }
  size_ = std::max<uint64_t>(size_, offset + bytes.size());
}

void AtomicFileWriter::write(std::string_view bytes) { write_at(size_, bytes); }

void AtomicFileWriter::commit() {
  FLATCLR_CHECK(fd_ >= 0, "commit twice or after a failure: ", path_);
  if (::fsync(fd_) != 0) fail_io(errno);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot write ", path_, ": ", std::strerror(err), " (nothing was changed)");
  }
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) {
    ::unlink(tmp_.c_str());
    fail("cannot write ", path_, ": ", ec.message(), " (nothing was changed)");
  }
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFileWriter out(path);
  out.write(bytes);
  out.commit();
}

int remove_stale_temporaries(const std::string& dir) {
  static const std::regex temporary(R"(^\..+\.tmp\.(\d+)$)");
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !std::regex_match(name, m, temporary)) continue;
    const long pid = std::stol(m[1]);
    if (pid == ::getpid() || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      if (fs::remove(e.path(), ec)) ++removed;
    }
  }
  return removed;
}

void check_writable_folder(const std::string& dir, const std::string& what) {
  const std::string probe = (fs::path(dir) / (".write_check.tmp." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write into ", what, " ", dir, ": ", std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read ", path, ": ", std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(in.tellg());
  in.seekg(0);
  std::vector<char> data(size);
  if (size && !in.read(data.data(), static_cast<std::streamsize>(size))) fail("cannot read ", path);
  return data;
}

}  // namespace flatclr::core
