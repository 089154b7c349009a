#include "flatclr/dist/store_join.h"

#ifdef FLATCLR_HAVE_C10D

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>

namespace flatclr::dist {

// Waits until something accepts TCP connections at addr:port (a store's server), retrying every 200 ms until
// `deadline`; throws when nothing did. TCPStore's client retries on its own, but past its timeout (measured:
// 46 s for a timeout of 20 s, two connection attempts of a full timeout each and a random back-off between
// them), so a client only constructs its TCPStore once the server is there.
void wait_for_server(const std::string& addr, int port, std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  std::string last = "no answer";
  while (true) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) {
      last = std::string("cannot resolve the address: ") + ::gai_strerror(rc);
    } else {
      for (addrinfo* a = found; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int err = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
        if (err == EINPROGRESS) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
          pollfd p{fd, POLLOUT, 0};
          const int ready = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1000)));
          socklen_t len = sizeof err;
          if (ready == 1) {
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          } else {
            err = ETIMEDOUT;
          }
        }
        ::close(fd);
        if (err == 0) {
          ::freeaddrinfo(found);
          return;
        }
        last = std::strerror(err);
      }
      ::freeaddrinfo(found);
    }
    if (Clock::now() + std::chrono::milliseconds(200) > deadline) {
      throw std::runtime_error("no store answered at " + addr + ":" + std::to_string(port) + " (" + last +
                               ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// The keys of this start of the group live under a prefix that rank 0 draws afresh. torchrun's agent serves
// one store for all the restarts of a job (PyTorch 2.11 keeps its first round's server), so the keys of an
// earlier start are still there: a rank reading them would connect to the address of a process that is
// gone. torchrun's own restart count does not tell the starts apart (a node whose workers failed counts a
// restart, a node whose healthy workers were stopped for the new round does not). So every other rank asks
// rank 0 with a nonce only it knows (ask/<rank>), rank 0 answers each nonce it sees with the prefix
// (answer/<nonce>), and waits until every rank confirmed under the new prefix. Bounded by `timeout`.
std::string this_start_prefix(c10d::Store& store, int rank, int size,
                              std::chrono::steady_clock::time_point deadline) {
  using Clock = std::chrono::steady_clock;
  const auto timeout =
      std::max(std::chrono::milliseconds(1),
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  std::random_device entropy;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", entropy(), entropy());
  const std::string nonce = hex;
  const auto text = [](const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); };
  const auto bytes = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  if (rank != 0) {
    store.set("ask/" + std::to_string(rank), bytes(nonce));
    store.wait({"answer/" + nonce}, timeout);  // throws when rank 0 does not answer in time
    const std::string prefix = text(store.get("answer/" + nonce));
    store.set(prefix + "/joined/" + std::to_string(rank), bytes("1"));
    return prefix;
  }
  const std::string prefix = "start_" + nonce;
  std::vector<std::string> answered(static_cast<size_t>(size));
  std::vector<bool> joined(static_cast<size_t>(size), false);
  joined[0] = true;
  while (true) {
    std::string missing;
    for (int r = 1; r < size; ++r) {
      if (joined[r]) continue;
      if (store.check({prefix + "/joined/" + std::to_string(r)})) {
        joined[r] = true;
        continue;
      }
      missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      const std::string ask = "ask/" + std::to_string(r);
      if (!store.check({ask})) continue;
      const std::string theirs = text(store.get(ask));
      if (theirs != answered[r]) {
        store.set("answer/" + theirs, bytes(prefix));
        answered[r] = theirs;
      }
    }
    if (missing.empty()) return prefix;
    if (Clock::now() > deadline) throw std::runtime_error("rank(s) " + missing + " did not join in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace flatclr::dist

#endif
