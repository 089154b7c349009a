// A bound on the start of a process group that does not rest on c10d's own timeouts, which do not cover every
// wait: measured, a TCPStore client whose MASTER_PORT is held by a program that accepts connections but never
// answers waited 600 s (until killed) with a timeout of 10 s. Each stage of the start gets `limit`; when one
// overruns, the watchdog writes `message(stage)` to stderr as flatclr's one-line error and ends the process
// with exit code 1, since nothing can unblock the thread that waits inside c10d.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace flatclr::dist {

class StartWatchdog {
 public:
  StartWatchdog(std::chrono::milliseconds limit, std::function<std::string(const std::string&)> message);
  ~StartWatchdog();  // the start is over (formed or failed with an error of its own): stops watching
  StartWatchdog(const StartWatchdog&) = delete;
  StartWatchdog& operator=(const StartWatchdog&) = delete;

  // A new stage, with a whole `limit` of its own.
  void stage(const std::string& name);

 private:
  void watch();

  std::chrono::milliseconds limit_;
  std::function<std::string(const std::string&)> message_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string stage_;
  std::chrono::steady_clock::time_point deadline_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace flatclr::dist
