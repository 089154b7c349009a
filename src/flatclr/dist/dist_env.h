// Where this process sits in a distributed run, as its launcher describes it with environment variables:
// - torchrun (or anything that sets the same, such as scripts/launch.sh): RANK, WORLD_SIZE, LOCAL_RANK,
//   LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and from torchrun's agent GROUP_RANK (the node's rank),
//   ROLE_RANK, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_RUN_ID and TORCHELASTIC_USE_AGENT_STORE;
// - srun, when WORLD_SIZE is not set: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODEID,
//   SLURM_NTASKS_PER_NODE or SLURM_TASKS_PER_NODE, and the first host of SLURM_STEP_NODELIST (else
//   SLURM_JOB_NODELIST) as the master address unless MASTER_ADDR is set; MASTER_PORT, else a port derived
//   from SLURM_JOB_ID (slurm_env.h).
// GLOO_SOCKET_IFNAME is read for every launcher. No variable set means a single process (world_size 1).
// Kept free of LibTorch headers so that configs can hold it.
#pragma once

#include <functional>
#include <string>

namespace flatclr::dist {

enum class Launcher { kNone, kEnvironment, kTorchrun, kSlurm };

const char* launcher_name(Launcher l);  // none | environment | torchrun | slurm

struct DistEnv {
  Launcher launcher = Launcher::kNone;
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  // Processes on this machine (LOCAL_WORLD_SIZE, which torchrun and scripts/launch.sh set; Slurm's tasks on
  // this node; 1 when unset): the default thread and worker counts share the machine's cores among them.
  int local_world_size = 1;
  int group_rank = 0;  // this node's rank among the nodes (GROUP_RANK, SLURM_NODEID)
  int role_rank = 0;   // ROLE_RANK (= rank for a job of one role, as every flatclr job is)
  // How often torchrun restarted the workers of this job (TORCHELASTIC_RESTART_COUNT), and the job's id
  // (TORCHELASTIC_RUN_ID; under Slurm SLURM_JOB_ID): the same across restarts.
  int restart_count = 0;
  std::string run_id;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent already serves the store at MASTER_ADDR:MASTER_PORT,
  // so every rank, rank 0 included, joins it as a client.
  bool agent_store = false;
  // GLOO_SOCKET_IFNAME: the network interface(s) Gloo uses, comma-separated; empty = the address the
  // hostname resolves to.
  std::string gloo_socket_ifname;

  bool distributed() const { return world_size > 1; }
};

// getenv: returns the variable's value or nullptr (std::getenv in the CLI, a map in tests). Throws
// UsageError naming the variable for a malformed or inconsistent value (RANK >= WORLD_SIZE, a missing
// MASTER_ADDR/MASTER_PORT when WORLD_SIZE > 1, a port outside 1..65535, a malformed Slurm list).
DistEnv dist_env_from(const std::function<const char*(const char*)>& getenv);

}  // namespace flatclr::dist
