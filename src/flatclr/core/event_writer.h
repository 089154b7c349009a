// TensorBoard event files (what PyTorch's SummaryWriter writes), for scalars:
//   <dir>/events.out.tfevents.<unix seconds>.<hostname>.<pid>.0
// Each record is TFRecord-framed: uint64 length | masked CRC-32C of the length | an `Event` protobuf |
// masked CRC-32C of the protobuf (little-endian). The Event messages are encoded here by hand from the public
// schema (tensorflow/core/util/event.proto, summary.proto), which needs five fields:
//   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//           SessionLog session_log = 7; }   (6 is the deprecated LogMessage: a START written there is
//           not seen, and TensorBoard then keeps a resumed run's stale steps)
//   Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
//   SessionLog { SessionStatus status = 1; }  (START = 1)
// The first record is file_version "brain.Event:2". Every write() goes to the file in one system call, so a
// crash leaves whole records (TensorBoard also ignores a cut-off last record). The tests read the files with
// TensorBoard's own loader (scripts/tb_read.py), independently of this encoder.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flatclr::core {

class EventWriter {
 public:
  // Creates a new event file in `dir` (which must exist). Throws UserError naming the path on failure.
  explicit EventWriter(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Scalars of one step; each becomes one Event. Written (one system call) before returning.
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);
  // A SessionLog START at `step`: TensorBoard then drops the events at steps >= `step` from earlier files of
  // this folder (what SummaryWriter(purge_step=...) does when a run resumes).
  void add_session_start(int64_t step);
  const std::string& path() const { return path_; }

  // Encoders, exposed for tests: one framed record around `payload`, and the Event messages.
  static std::string frame_record(const std::string& payload);
  static std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
  static std::string encode_file_version_event(double wall_time);
  static std::string encode_session_start_event(double wall_time, int64_t step);

 private:
  void write_all(const std::string& bytes);
  std::string path_;
  int fd_ = -1;
};

}  // namespace flatclr::core
