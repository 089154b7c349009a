// Joining a process group's store (dist/process_group.cpp): waiting, bounded, for its server to be there, and
// the key prefix of this start of the group, drawn afresh by rank 0 so that a restarted job never reads the
// keys of an earlier start. Only in builds with c10d.
#pragma once

#include "flatclr/dist/compat.h"

#ifdef FLATCLR_HAVE_C10D

#include <chrono>
#include <string>

namespace flatclr::dist {

// Returns once something accepts TCP connections at addr:port; throws std::runtime_error ("no store answered
// at addr:port (why)") when nothing did by `deadline`.
void wait_for_server(const std::string& addr, int port, std::chrono::steady_clock::time_point deadline);

// The prefix under which this start of the group keeps its keys, the same on every rank; throws when the
// ranks do not all take part by `deadline` (rank 0 names the missing ranks).
std::string this_start_prefix(c10d::Store& store, int rank, int size,
                              std::chrono::steady_clock::time_point deadline);

}  // namespace flatclr::dist

#endif
