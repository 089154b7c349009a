// CPU thread settings. LibTorch 1.13 defaults to hardware_concurrency()/2 threads (it assumes SMT), which
// is half of a 2-core VM; flatclr sets the intra-op pool explicitly.
#pragma once

namespace flatclr::core {

// n <= 0 means "all cores" (std::thread::hardware_concurrency()). Returns the count in effect.
int set_num_threads(int n);

}  // namespace flatclr::core
