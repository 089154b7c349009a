#include "flatclr/core/run_settings.h"

#include "flatclr/core/build_info.h"
#include "flatclr/core/device.h"
#include "flatclr/core/error.h"

namespace flatclr::core {

void RunSettings::validate() const {
  if (!(device == "auto" || device == "cpu" || device.rfind("cuda", 0) == 0)) {
    fail_usage(Field{"run.device"}, "=", device, ": expected auto, cpu, cuda or cuda:N");
  }
  check_device_in_build(device, disable_cuda, kCudaBuild);
  if (threads < 0)
    fail_usage(Field{"run.threads"}, "=", threads, ": expected 0 (all cores) or a positive count");
}

}  // namespace flatclr::core
