// CPU thread settings: flatclr sets the intra-op pool explicitly (the run settings' threads), so that the
// count is the one asked for whatever LibTorch's default (all cores in 2.11; half of them in older versions,
// which assumed SMT).
#pragma once

namespace flatclr::core {

// n <= 0 means "all cores" (std::thread::hardware_concurrency()). Returns the count in effect.
int set_num_threads(int n);

// The machine's cores shared among `processes_per_machine` processes (at least 1): the default thread and
// worker count of each process, as torchrun's convention (one process per core group, no oversubscription).
int cores_per_process(int processes_per_machine);

}  // namespace flatclr::core
