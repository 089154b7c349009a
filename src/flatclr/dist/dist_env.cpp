#include "flatclr/dist/dist_env.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "flatclr/core/error.h"
#include "flatclr/dist/slurm_env.h"

namespace flatclr::dist {
namespace {

using Getenv = std::function<const char*(const char*)>;

long parse_int(const char* name, const char* text, long min, long max) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    fail_usage("environment variable ", name, "='", text, "': expected an integer in [", min, ", ", max, "]");
  }
  return v;
}

int int_or(const Getenv& getenv, const char* name, int fallback, long min, long max) {
  const char* v = getenv(name);
  return v ? static_cast<int>(parse_int(name, v, min, max)) : fallback;
}

constexpr long kMaxWorld = 1 << 20;

DistEnv from_torchrun(const Getenv& getenv, const char* world) {
  DistEnv e;
  e.launcher = getenv("TORCHELASTIC_RUN_ID") ? Launcher::kTorchrun : Launcher::kEnvironment;
  e.world_size = static_cast<int>(parse_int("WORLD_SIZE", world, 1, kMaxWorld));
  const char* rank = getenv("RANK");
  if (!rank && e.world_size > 1) fail_usage("WORLD_SIZE=", e.world_size, " but RANK is not set");
  if (rank) e.rank = static_cast<int>(parse_int("RANK", rank, 0, e.world_size - 1));
  e.local_rank = int_or(getenv, "LOCAL_RANK", e.rank, 0, kMaxWorld);
  e.local_world_size = int_or(getenv, "LOCAL_WORLD_SIZE", 1, 1, e.world_size);
  e.group_rank = int_or(getenv, "GROUP_RANK", 0, 0, e.world_size - 1);
  e.role_rank = int_or(getenv, "ROLE_RANK", e.rank, 0, e.world_size - 1);
  e.restart_count = int_or(getenv, "TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 30);
  if (const char* id = getenv("TORCHELASTIC_RUN_ID")) e.run_id = id;
  // Exactly "True", as PyTorch's own test for the variable (torch.distributed's
  // _torchelastic_use_agent_store).
  const char* agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && std::string(agent) == "True";
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

// srun starts every task itself; rank 0 is the first task of the first node of the step.
DistEnv from_slurm(const Getenv& getenv) {
  DistEnv e;
  e.launcher = Launcher::kSlurm;
  const char* ntasks = getenv("SLURM_NTASKS");
  if (!ntasks)
    fail_usage("environment variable SLURM_PROCID is set but SLURM_NTASKS is not (srun sets both)");
  e.world_size = static_cast<int>(parse_int("SLURM_NTASKS", ntasks, 1, kMaxWorld));
  e.rank = static_cast<int>(parse_int("SLURM_PROCID", getenv("SLURM_PROCID"), 0, e.world_size - 1));
  e.role_rank = e.rank;
  e.local_rank = int_or(getenv, "SLURM_LOCALID", 0, 0, kMaxWorld);
  e.group_rank = int_or(getenv, "SLURM_NODEID", 0, 0, kMaxWorld);
  if (const char* per_node = getenv("SLURM_NTASKS_PER_NODE")) {
    e.local_world_size = static_cast<int>(parse_int("SLURM_NTASKS_PER_NODE", per_node, 1, e.world_size));
  } else if (const char* tasks = getenv("SLURM_TASKS_PER_NODE")) {
    const auto counts = expand_tasks_per_node(tasks, "SLURM_TASKS_PER_NODE");
    if (static_cast<std::size_t>(e.group_rank) >= counts.size()) {
      fail_usage("environment variable SLURM_TASKS_PER_NODE='", tasks, "' lists ", counts.size(),
                 " nodes but SLURM_NODEID=", e.group_rank);
    }
    e.local_world_size = counts[static_cast<std::size_t>(e.group_rank)];
  }
  if (e.local_rank >= e.local_world_size && e.world_size > 1) {
    fail_usage("environment variable SLURM_LOCALID=", e.local_rank, " but this node runs ",
               e.local_world_size, " tasks (SLURM_NTASKS_PER_NODE / SLURM_TASKS_PER_NODE)");
  }
  if (const char* job = getenv("SLURM_JOB_ID")) e.run_id = job;
  if (const char* addr = getenv("MASTER_ADDR"); addr && *addr) {
    e.master_addr = addr;
  } else {
    // The step's nodes (a step may use part of the job's); the job's when srun did not say.
    const char* var = getenv("SLURM_STEP_NODELIST") ? "SLURM_STEP_NODELIST" : "SLURM_JOB_NODELIST";
    const char* nodes = getenv(var);
    if (nodes) {
      e.master_addr = first_host(nodes, var);
    } else if (e.world_size > 1) {
      fail_usage("SLURM_NTASKS=", e.world_size,
                 " but neither SLURM_JOB_NODELIST nor MASTER_ADDR is set: start the tasks with srun, or set "
                 "MASTER_ADDR to the first node's address");
    }
  }
  if (const char* port = getenv("MASTER_PORT")) {
    e.master_port = static_cast<int>(parse_int("MASTER_PORT", port, 1, 65535));
  } else if (!e.run_id.empty()) {
    e.master_port = default_port_for_job(e.run_id);
  } else if (e.world_size > 1) {
    fail_usage("SLURM_NTASKS=", e.world_size, " but neither SLURM_JOB_ID nor MASTER_PORT is set");
  }
  return e;
}

}  // namespace

const char* launcher_name(Launcher l) {
  switch (l) {
    case Launcher::kEnvironment:
      return "environment";
    case Launcher::kTorchrun:
      return "torchrun";
    case Launcher::kSlurm:
      return "slurm";
    case Launcher::kNone:
      break;
  }
  return "none";
}

DistEnv dist_env_from(const Getenv& getenv) {
  DistEnv e;
  if (const char* world = getenv("WORLD_SIZE")) {
    e = from_torchrun(getenv, world);
  } else if (getenv("RANK")) {
    fail_usage("environment variable RANK is set but WORLD_SIZE is not (torchrun sets both)");
  } else if (getenv("SLURM_PROCID")) {
    e = from_slurm(getenv);
  }
  if (const char* ifname = getenv("GLOO_SOCKET_IFNAME")) e.gloo_socket_ifname = ifname;
  return e;
}

}  // namespace flatclr::dist
