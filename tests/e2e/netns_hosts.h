// Test hosts on one machine: two Linux network namespaces joined by a veth pair, each with its own address
// in 10.231.<k>.0/24 and its own loopback, sharing the machine's hostname and file system (the case where
// a hostname lookup gives an address the other host cannot reach). Made by the constructor, removed by the
// destructor with every process still inside, also when the test fails (a failed ASSERT returns through
// it). A test process killed outright (ctest's timeout) cannot clean up: the next constructor removes the
// namespaces and links of test processes that no longer exist (their names carry the pid). Needs root and
// iproute2; every command is bounded in time.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

extern char** environ;

namespace flatclr::e2e {

// Runs `cmd` under /bin/sh, at most timeout_s seconds (coreutils' timeout); its exit code (124: timed out).
inline int sh(const std::string& cmd, int timeout_s = 10) {
  const std::string bounded =
      "timeout -k 2 " + std::to_string(timeout_s) + " sh -c '" + cmd + "' >/dev/null 2>&1";
  const int status = std::system(bounded.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The output of `cmd` (bounded in time), "" when it fails.
inline std::string sh_output(const std::string& cmd, int timeout_s = 10) {
  FILE* p = ::popen(("timeout -k 2 " + std::to_string(timeout_s) + " " + cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return "";
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

// Starts `cmd` under /bin/sh in the background, stdout and stderr into log; the pid (-1 on failure).
inline pid_t spawn_shell(const std::string& cmd, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::string c = cmd;
  char sh_name[] = "/bin/sh", dash_c[] = "-c";
  char* argv[] = {sh_name, dash_c, c.data(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, "/bin/sh", &fa, nullptr, argv, environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

class NetnsHosts {
 public:
  // Names unique to this process (two test binaries may run at once); `subnet` picks 10.231.<subnet>.0/24.
  explicit NetnsHosts(int subnet) {
    const std::string id = std::to_string(::getpid());
    for (int h = 0; h < 2; ++h) {
      ns_[h] = "flatclr" + id + (h ? "b" : "a");
      veth_[h] = "fcv" + id + (h ? "b" : "a");  // interface names have at most 15 characters
      addr_[h] = "10.231." + std::to_string(subnet) + "." + std::to_string(h + 1);
    }
    if (::geteuid() != 0) {
      why_not_ = "needs root (ip netns add)";
      return;
    }
    if (sh("command -v ip") != 0) {
      why_not_ = "needs iproute2's `ip`";
      return;
    }
    remove_leftovers();
    if (sh("ip netns add " + ns_[0]) != 0) {
      why_not_ = "`ip netns add` failed (no iproute2 or no permission for network namespaces)";
      return;
    }
    made_[0] = true;
    made_[1] = sh("ip netns add " + ns_[1]) == 0;
    const bool ok = made_[1] && sh("ip link add " + veth_[0] + " type veth peer name " + veth_[1]) == 0 &&
                    setup(0) && setup(1);
    if (!ok) why_not_ = "could not make a veth pair between two network namespaces";
  }
  ~NetnsHosts() {
    for (int h = 0; h < 2; ++h) {
      if (!made_[h]) continue;
      // Whatever a failed test left running inside, then the namespace (which takes its veth end with it).
      sh("for p in $(ip netns pids " + ns_[h] + "); do kill -9 $p; done");
      sh("ip netns del " + ns_[h]);
    }
    sh("ip link del " + veth_[0]);  // only left when moving it into a namespace failed
  }
  NetnsHosts(const NetnsHosts&) = delete;
  NetnsHosts& operator=(const NetnsHosts&) = delete;

  bool ok() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  const std::string& ns(int h) const { return ns_[h]; }
  const std::string& veth(int h) const { return veth_[h]; }
  const std::string& addr(int h) const { return addr_[h]; }
  // `cmd` run inside host h.
  std::string in(int h, const std::string& cmd) const { return "ip netns exec " + ns_[h] + " " + cmd; }
  // The pids of the processes inside host h whose command name (/proc/<pid>/comm) is `comm`.
  std::vector<pid_t> pids(int h, const std::string& comm) const {
    std::vector<pid_t> out;
    const std::string list = sh_output("ip netns pids " + ns_[h]);
    size_t pos = 0;
    while (pos < list.size()) {
      size_t end = list.find('\n', pos);
      if (end == std::string::npos) end = list.size();
      const std::string p = list.substr(pos, end - pos);
      pos = end + 1;
      if (p.empty()) continue;
      std::string name = sh_output("cat /proc/" + p + "/comm");
      while (!name.empty() && name.back() == '\n') name.pop_back();
      if (name == comm) out.push_back(static_cast<pid_t>(std::stol(p)));
    }
    return out;
  }
  // Host h's link to the other host down or up (no RST, no FIN: its peers only meet silence).
  bool set_link(int h, bool up) const {
    return sh("ip -n " + ns_[h] + " link set " + veth_[h] + (up ? " up" : " down")) == 0;
  }

 private:
  // Namespaces and veth links of earlier test processes that are gone (killed before their destructor).
  static void remove_leftovers() {
    const std::regex ns_name(R"(^flatclr(\d+)[ab]\b)"), link_name(R"(^\d+: (fcv(\d+)[ab])[@:])");
    auto gone = [](const std::string& pid) { return ::kill(std::stoi(pid), 0) != 0 && errno == ESRCH; };
    std::smatch m;
    const std::string spaces = sh_output("ip netns list");
    for (size_t pos = 0; pos < spaces.size();) {
      size_t end = spaces.find('\n', pos);
      if (end == std::string::npos) end = spaces.size();
      const std::string line = spaces.substr(pos, end - pos);
      pos = end + 1;
      if (std::regex_search(line, m, ns_name) && gone(m[1])) {
        const std::string ns = line.substr(0, line.find(' '));
        sh("for p in $(ip netns pids " + ns + "); do kill -9 $p; done");
        sh("ip netns del " + ns);
      }
    }
    const std::string links = sh_output("ip -o link show");
    for (size_t pos = 0; pos < links.size();) {
      size_t end = links.find('\n', pos);
      if (end == std::string::npos) end = links.size();
      const std::string line = links.substr(pos, end - pos);
      pos = end + 1;
      if (std::regex_search(line, m, link_name) && gone(m[2])) sh("ip link del " + std::string(m[1]));
    }
  }

  bool setup(int h) {
    return sh("ip link set " + veth_[h] + " netns " + ns_[h]) == 0 &&
           sh("ip -n " + ns_[h] + " addr add " + addr_[h] + "/24 dev " + veth_[h]) == 0 &&
           sh("ip -n " + ns_[h] + " link set " + veth_[h] + " up") == 0 &&
           sh("ip -n " + ns_[h] + " link set lo up") == 0;
  }

  std::string ns_[2], veth_[2], addr_[2];
  bool made_[2] = {false, false};
  std::string why_not_;
};

}  // namespace flatclr::e2e
