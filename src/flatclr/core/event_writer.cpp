#include "flatclr/core/event_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "flatclr/core/crc32c.h"
#include "flatclr/core/error.h"

namespace flatclr::core {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <typename T>
void put_le(std::string& out, T v) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86-64 and aarch64 are little-endian, as the format
  out.append(reinterpret_cast<const char*>(b), sizeof(T));
}

// Protobuf field keys: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
void put_key(std::string& out, int field, int wire) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | wire);
}

void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_key(e, 1, 1);
  put_le<double>(e, wall_time);
  if (step != 0) {  // proto3 omits default values
    put_key(e, 2, 0);
    put_varint(e, static_cast<uint64_t>(step));
  }
  return e;
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  return buf;
}

}  // namespace

std::string EventWriter::frame_record(const std::string& payload) {
  std::string r;
  const uint64_t len = payload.size();
  put_le<uint64_t>(r, len);
  put_le<uint32_t>(r, masked_crc32c(r.data(), 8));
  r += payload;
  put_le<uint32_t>(r, masked_crc32c(payload.data(), payload.size()));
  return r;
}

std::string EventWriter::encode_scalar_event(double wall_time, int64_t step, const std::string& tag,
                                             float value) {
  std::string v;
  put_bytes(v, 1, tag);
  put_key(v, 2, 5);
  put_le<float>(v, value);
  std::string summary;
  put_bytes(summary, 1, v);
  std::string e = event_header(wall_time, step);
  put_bytes(e, 5, summary);
  return e;
}

std::string EventWriter::encode_file_version_event(double wall_time) {
  std::string e = event_header(wall_time, 0);
  put_bytes(e, 3, "brain.Event:2");
  return e;
}

std::string EventWriter::encode_session_start_event(double wall_time, int64_t step) {
  std::string log;
  put_key(log, 1, 0);
  put_varint(log, 1);  // SessionLog.START
  std::string e = event_header(wall_time, step);
  put_bytes(e, 7, log);  // Event.session_log
  return e;
}

EventWriter::EventWriter(const std::string& dir) {
  const double t = now_seconds();
  path_ = (std::filesystem::path(dir) / ("events.out.tfevents." + std::to_string(static_cast<int64_t>(t)) +
                                         "." + host_name() + "." + std::to_string(getpid()) + ".0"))
              .string();
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create the TensorBoard event file ", path_, ": ", std::strerror(errno));
  write_all(frame_record(encode_file_version_event(t)));
}

EventWriter::~EventWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void EventWriter::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write the TensorBoard event file ", path_, ": ", std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

void EventWriter::add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars) {
  const double t = now_seconds();
  std::string bytes;
  for (const auto& [tag, value] : scalars)
    bytes += frame_record(encode_scalar_event(t, step, tag, static_cast<float>(value)));
  if (!bytes.empty()) write_all(bytes);
}

void EventWriter::add_session_start(int64_t step) {
  write_all(frame_record(encode_session_start_event(now_seconds(), step)));
}

}  // namespace flatclr::core
