// Slurm's compressed lists, as srun exports them to every task, turned into what a distributed run needs:
// - a hostlist (SLURM_JOB_NODELIST): comma-separated host expressions, each a name with zero or more bracket
//   groups of numbers and ranges, e.g. `gpu[01-04,07]`, `node1,node[3-5]`, `rack[1-2]-n[08-10]`. A range
//   keeps the zero padding of its low bound (`[08-10]` -> 08, 09, 10), and several groups in one expression
//   multiply (the rightmost varies fastest);
// - a task count per node (SLURM_TASKS_PER_NODE): comma-separated counts, each optionally repeated,
//   e.g. `2(x3),1` = 2, 2, 2, 1.
// Pure functions; malformed input throws UsageError naming the variable and the value.
#pragma once

#include <string>
#include <vector>

namespace flatclr::dist {

// Every host of `hostlist`, in Slurm's order. At most `limit` hosts are produced (the expansion stops
// there), so that a job of 10,000 nodes costs nothing when only the first host is wanted.
std::vector<std::string> expand_hostlist(const std::string& hostlist, const std::string& variable,
                                         std::size_t limit = 1u << 20);

// The first host of `hostlist` (where rank 0 runs under srun's default block distribution).
std::string first_host(const std::string& hostlist, const std::string& variable);

// `2(x3),1` -> {2, 2, 2, 1}.
std::vector<int> expand_tasks_per_node(const std::string& tasks_per_node, const std::string& variable);

// The port a Slurm job uses when MASTER_PORT is not set: 15000 + the last four digits of SLURM_JOB_ID
// (the choice PyTorch Lightning makes), so that two jobs sharing a node rarely collide and every task of one
// job computes the same port without talking to the others.
int default_port_for_job(const std::string& job_id);

}  // namespace flatclr::dist
