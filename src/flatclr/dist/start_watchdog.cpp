#include "flatclr/dist/start_watchdog.h"

#include <cstdlib>
#include <iostream>

namespace flatclr::dist {

StartWatchdog::StartWatchdog(std::chrono::milliseconds limit,
                             std::function<std::string(const std::string&)> message)
    : limit_(limit), message_(std::move(message)), deadline_(std::chrono::steady_clock::now() + limit) {
  thread_ = std::thread([this] { watch(); });
}

StartWatchdog::~StartWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void StartWatchdog::stage(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stage_ = name;
    deadline_ = std::chrono::steady_clock::now() + limit_;
  }
  changed_.notify_all();
}

void StartWatchdog::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!done_) {
    const auto deadline = deadline_;
    if (changed_.wait_until(lock, deadline, [&] { return done_ || deadline_ != deadline; })) continue;
    // The stage overran its limit: the waiting thread is stuck inside c10d.
    std::cerr << "flatclr: error: " << message_(stage_) << std::endl;
    std::_Exit(1);
  }
}

}  // namespace flatclr::dist
