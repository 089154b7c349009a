#include "flatclr/core/memory_usage.h"

#include <fstream>
#include <sstream>
#include <string>

namespace flatclr::core {

MemoryUsage memory_usage() {
  MemoryUsage m;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key;
    int64_t kb = -1;
    fields >> key >> kb;
    if (kb < 0) continue;
    if (key == "VmHWM:") m.peak_bytes = kb * 1024;
    if (key == "VmRSS:") m.rss_bytes = kb * 1024;
    if (key == "RssAnon:") m.anon_bytes = kb * 1024;
    if (key == "RssFile:") m.file_bytes = kb * 1024;
  }
  return m;
}

}  // namespace flatclr::core
