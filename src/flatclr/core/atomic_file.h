// Crash-safe file writes: the bytes go to a temporary file in the destination's folder, are flushed to
// disk, and the temporary file is renamed over the destination. A reader sees the old file or the new
// one, never half of one; a failed write leaves the destination untouched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flatclr::core {

void write_file_atomic(const std::string& path, std::string_view bytes);
inline void write_file_atomic(const std::string& path, const std::vector<char>& bytes) {
  write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

// A file written in pieces (e.g. streamed features) and published at once. The pieces go to a temporary
// file beside `path` (created by the constructor: UserError naming `path` when its folder cannot be written);
// commit() flushes it and renames it over `path`. Destroyed without commit() (an error, an exception), it
// removes the temporary file and leaves `path` as it was.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(std::string_view bytes);                      // appends
  void write_at(uint64_t offset, std::string_view bytes);  // overwrites bytes already written (a header)
  void commit();
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail_io(int err);
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Removes the temporary files that writers killed mid-write (SIGKILL, power loss) left in `dir`: names
// ".<file>.tmp.<pid>" whose process no longer runs. Never a published file. Returns how many it removed.
int remove_stale_temporaries(const std::string& dir);

// UserError naming `dir` (and `what` it is for) when a file cannot be created in it: read-only folders,
// permissions, a read-only file system. Leaves nothing behind.
void check_writable_folder(const std::string& dir, const std::string& what);

// Whole file into memory; UserError naming the path when it cannot be read.
std::vector<char> read_file(const std::string& path);

}  // namespace flatclr::core
