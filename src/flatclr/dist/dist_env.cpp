#include "flatclr/dist/dist_env.h"

#include <cerrno>
#include <cstdlib>

#include "flatclr/core/error.h"

namespace flatclr::dist {
namespace {

long parse_int(const char* name, const char* text, long min, long max) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    fail_usage("environment variable ", name, "='", text, "': expected an integer in [", min, ", ", max, "]");
  }
  return v;
}

}  // namespace

DistEnv dist_env_from(const std::function<const char*(const char*)>& getenv) {
  DistEnv e;
  const char* world = getenv("WORLD_SIZE");
  if (!world) {
    if (getenv("RANK"))
      fail_usage("environment variable RANK is set but WORLD_SIZE is not (torchrun sets both)");
    return e;
  }
  e.world_size = static_cast<int>(parse_int("WORLD_SIZE", world, 1, 1 << 20));
  const char* rank = getenv("RANK");
  if (!rank && e.world_size > 1) fail_usage("WORLD_SIZE=", e.world_size, " but RANK is not set");
  if (rank) e.rank = static_cast<int>(parse_int("RANK", rank, 0, e.world_size - 1));
  const char* local = getenv("LOCAL_RANK");
  e.local_rank = local ? static_cast<int>(parse_int("LOCAL_RANK", local, 0, 1 << 20)) : e.rank;
  const char* local_world = getenv("LOCAL_WORLD_SIZE");
  if (local_world)
    e.local_world_size = static_cast<int>(parse_int("LOCAL_WORLD_SIZE", local_world, 1, e.world_size));
  const char* addr = getenv("MASTER_ADDR");
  const char* port = getenv("MASTER_PORT");
  if (e.world_size > 1 && (!addr || !*addr || !port)) {
    fail_usage("WORLD_SIZE=", e.world_size,
               " needs MASTER_ADDR and MASTER_PORT (the address and a free port of rank 0's machine)");
  }
  if (addr && *addr) e.master_addr = addr;
  if (port) e.master_port = static_cast<int>(parse_int("MASTER_PORT", port, 1, 65535));
  return e;
}

}  // namespace flatclr::dist
