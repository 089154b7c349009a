// Where this process sits in a distributed run, as torchrun describes it with environment variables:
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (scripts/launch.sh sets the same for N local
// processes). No variable set means a single process (world_size 1). Kept free of LibTorch headers so
// that configs can hold it.
#pragma once

#include <functional>
#include <string>

namespace flatclr::dist {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  // Processes on this machine (LOCAL_WORLD_SIZE, which torchrun and scripts/launch.sh set; 1 when unset): the
  // default thread and worker counts share the machine's cores among them.
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool distributed() const { return world_size > 1; }
};

// getenv: returns the variable's value or nullptr (std::getenv in the CLI, a map in tests). Throws
// UsageError naming the variable for a malformed or inconsistent value (RANK >= WORLD_SIZE, a missing
// MASTER_ADDR/MASTER_PORT when WORLD_SIZE > 1, a port outside 1..65535).
DistEnv dist_env_from(const std::function<const char*(const char*)>& getenv);

}  // namespace flatclr::dist
