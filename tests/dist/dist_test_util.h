// Shared by the tests of src/flatclr/dist: a free TCP port on 127.0.0.1, W ranks of a Gloo group run as
// threads of the test process (collectives and autograd across ranks without spawning), and spawning the
// flatclr_dist_worker helper as W processes with torchrun's environment variables.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "flatclr/dist/process_group.h"

extern char** environ;

namespace flatclr::dist::testing {

// A port that was free a moment ago (bind to port 0, read it back, close).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline DistEnv local_env(int rank, int world, int port) {
  DistEnv e;
  e.rank = rank;
  e.world_size = world;
  e.local_rank = rank;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  return e;
}

// Runs fn(group) on `world` threads, one Gloo group member each; rethrows the first exception.
inline void run_ranks(int world, const std::function<void(ProcessGroup&)>& fn, double timeout_s = 60) {
  const int port = free_port();
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        ProcessGroup group(local_env(r, world, port), "gloo", timeout_s);
        fn(group);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

struct Spawned {
  pid_t pid = -1;
  std::string log;  // stdout + stderr of the process
};

// Starts `exe args...` as rank `rank` of `world` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT,
// OMP_NUM_THREADS=1), its output in log.
inline Spawned spawn_rank(const std::string& exe, const std::vector<std::string>& args, int rank, int world,
                          int port, const std::string& log) {
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string v(*e);
    for (const char* k :
         {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "MASTER_ADDR=", "MASTER_PORT=", "OMP_NUM_THREADS="})
      if (v.rfind(k, 0) == 0) v.clear();
    if (!v.empty()) env_s.push_back(v);
  }
  env_s.push_back("RANK=" + std::to_string(rank));
  env_s.push_back("WORLD_SIZE=" + std::to_string(world));
  env_s.push_back("LOCAL_RANK=" + std::to_string(rank));
  env_s.push_back("MASTER_ADDR=127.0.0.1");
  env_s.push_back("MASTER_PORT=" + std::to_string(port));
  env_s.push_back("OMP_NUM_THREADS=1");
  std::vector<char*> envp, argv;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  for (auto& s : all) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  Spawned s;
  s.log = log;
  if (posix_spawn(&s.pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) s.pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return s;
}

// Waits up to timeout_s for pid; returns its exit code, 128+signal when killed, -1 on timeout (then kills
// it).
inline int wait_for(pid_t pid, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace flatclr::dist::testing
