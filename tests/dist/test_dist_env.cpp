// torchrun's and srun's environment variables -> DistEnv, and the errors for malformed or incomplete ones.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "flatclr/core/error.h"
#include "flatclr/dist/dist_env.h"

namespace flatclr::dist {
namespace {

DistEnv parse(const std::map<std::string, std::string>& vars) {
  return dist_env_from([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(DistEnv, NoVariablesMeansOneProcess) {
  auto e = parse({});
  EXPECT_EQ(e.world_size, 1);
  EXPECT_EQ(e.rank, 0);
  EXPECT_FALSE(e.distributed());
}

TEST(DistEnv, ReadsTorchrunsVariables) {
  auto e = parse({{"RANK", "3"},
                  {"WORLD_SIZE", "4"},
                  {"LOCAL_RANK", "1"},
                  {"MASTER_ADDR", "10.0.0.2"},
                  {"MASTER_PORT", "29600"}});
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.2");
  EXPECT_EQ(e.master_port, 29600);
  EXPECT_EQ(e.local_world_size, 1);  // not set: the defaults do not divide the cores
  EXPECT_TRUE(e.distributed());
  e = parse({{"RANK", "1"},
             {"WORLD_SIZE", "4"},
             {"LOCAL_WORLD_SIZE", "2"},
             {"MASTER_ADDR", "a"},
             {"MASTER_PORT", "1"}});
  EXPECT_EQ(e.local_world_size, 2);
}

TEST(DistEnv, RejectsBadValuesNamingTheVariable) {
  auto msg = [](const std::map<std::string, std::string>& v) {
    try {
      parse(v);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::map<std::string, std::string> ok{
      {"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& k, const std::string& v) {
    auto m = ok;
    m[k] = v;
    return m;
  };
  EXPECT_NE(msg(with("RANK", "2")).find("RANK='2'"), std::string::npos);
  EXPECT_NE(msg(with("WORLD_SIZE", "two")).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(msg(with("MASTER_PORT", "70000")).find("MASTER_PORT"), std::string::npos);
  auto no_addr = ok;
  no_addr.erase("MASTER_ADDR");
  EXPECT_NE(msg(no_addr).find("MASTER_ADDR"), std::string::npos);
  EXPECT_NE(msg({{"RANK", "1"}}).find("WORLD_SIZE"), std::string::npos);
  EXPECT_NE(msg(with("LOCAL_WORLD_SIZE", "3")).find("LOCAL_WORLD_SIZE='3'"),
            std::string::npos);  // > WORLD_SIZE
  EXPECT_NE(msg(with("GROUP_RANK", "x")).find("GROUP_RANK='x'"), std::string::npos);
  EXPECT_NE(msg(with("TORCHELASTIC_RESTART_COUNT", "-1")).find("TORCHELASTIC_RESTART_COUNT='-1'"),
            std::string::npos);
}

// What torchrun --nnodes=2 --nproc-per-node=2 sets for the second worker of the second node.
TEST(DistEnv, ReadsTorchrunsAgentVariables) {
  auto e = parse({{"RANK", "3"},
                  {"WORLD_SIZE", "4"},
                  {"LOCAL_RANK", "1"},
                  {"LOCAL_WORLD_SIZE", "2"},
                  {"GROUP_RANK", "1"},
                  {"ROLE_RANK", "3"},
                  {"TORCHELASTIC_RESTART_COUNT", "2"},
                  {"TORCHELASTIC_RUN_ID", "job-42"},
                  {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                  {"MASTER_ADDR", "10.231.0.1"},
                  {"MASTER_PORT", "29400"},
                  {"GLOO_SOCKET_IFNAME", "veth0"}});
  EXPECT_EQ(e.launcher, Launcher::kTorchrun);
  EXPECT_STREQ(launcher_name(e.launcher), "torchrun");
  EXPECT_EQ(e.group_rank, 1);
  EXPECT_EQ(e.role_rank, 3);
  EXPECT_EQ(e.restart_count, 2);
  EXPECT_EQ(e.run_id, "job-42");
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.gloo_socket_ifname, "veth0");
  // PyTorch tests the variable for exactly "True".
  for (const char* v : {"true", "1", "False", ""}) {
    e = parse({{"RANK", "0"},
               {"WORLD_SIZE", "2"},
               {"TORCHELASTIC_USE_AGENT_STORE", v},
               {"MASTER_ADDR", "a"},
               {"MASTER_PORT", "1"}});
    EXPECT_FALSE(e.agent_store) << v;
  }
}

TEST(DistEnv, WithoutTorchrunsAgentTheDefaultsFollowRank) {
  auto e = parse({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}});
  EXPECT_EQ(e.launcher, Launcher::kEnvironment);  // scripts/launch.sh, or variables set by hand
  EXPECT_EQ(e.role_rank, 1);
  EXPECT_EQ(e.group_rank, 0);
  EXPECT_EQ(e.restart_count, 0);
  EXPECT_TRUE(e.run_id.empty());
  EXPECT_FALSE(e.agent_store);
  EXPECT_TRUE(e.gloo_socket_ifname.empty());
}

// What srun sets for task 9 of `sbatch --nodes=2 --ntasks-per-node=8` on gpu[07-08] (job 1234567).
std::map<std::string, std::string> slurm_task9() {
  return {{"SLURM_PROCID", "9"},
          {"SLURM_NTASKS", "16"},
          {"SLURM_LOCALID", "1"},
          {"SLURM_NODEID", "1"},
          {"SLURM_NTASKS_PER_NODE", "8"},
          {"SLURM_TASKS_PER_NODE", "8(x2)"},
          {"SLURM_JOB_ID", "1234567"},
          {"SLURM_JOB_NODELIST", "gpu[07-08]"},
          {"SLURM_STEP_NODELIST", "gpu[07-08]"}};
}

TEST(DistEnv, ReadsSlurmsVariablesWhenTorchrunsAreAbsent) {
  auto e = parse(slurm_task9());
  EXPECT_EQ(e.launcher, Launcher::kSlurm);
  EXPECT_EQ(e.rank, 9);
  EXPECT_EQ(e.role_rank, 9);
  EXPECT_EQ(e.world_size, 16);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 8);
  EXPECT_EQ(e.group_rank, 1);
  EXPECT_EQ(e.master_addr, "gpu07");
  EXPECT_EQ(e.master_port, 15000 + 4567);
  EXPECT_EQ(e.run_id, "1234567");
  EXPECT_FALSE(e.agent_store);  // rank 0 serves the store

  // Without --ntasks-per-node srun sets only the compressed per-node counts: this node's entry.
  auto v = slurm_task9();
  v.erase("SLURM_NTASKS_PER_NODE");
  v["SLURM_TASKS_PER_NODE"] = "9,7";
  v["SLURM_LOCALID"] = "0";
  v["SLURM_PROCID"] = "9";
  EXPECT_EQ(parse(v).local_world_size, 7);
  v["SLURM_NODEID"] = "0";
  EXPECT_EQ(parse(v).local_world_size, 9);

  // MASTER_ADDR and MASTER_PORT, when set, win; the step's node list before the job's.
  v = slurm_task9();
  v["SLURM_STEP_NODELIST"] = "gpu08";
  EXPECT_EQ(parse(v).master_addr, "gpu08");
  v["MASTER_ADDR"] = "10.0.0.7";
  v["MASTER_PORT"] = "29600";
  e = parse(v);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29600);

  // torchrun started under srun (one torchrun per node): torchrun's variables win.
  v = slurm_task9();
  v.insert({{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "gpu07"}, {"MASTER_PORT", "29400"}});
  e = parse(v);
  EXPECT_EQ(e.launcher, Launcher::kEnvironment);
  EXPECT_EQ(e.rank, 2);
  EXPECT_EQ(e.world_size, 4);
}

TEST(DistEnv, RejectsBadSlurmVariablesNamingThem) {
  auto msg = [](const std::map<std::string, std::string>& v) {
    try {
      parse(v);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto with = [](const std::string& k, const std::string& val) {
    auto m = slurm_task9();
    if (val.empty()) {
      m.erase(k);
    } else {
      m[k] = val;
    }
    return m;
  };
  EXPECT_NE(msg(with("SLURM_PROCID", "16")).find("SLURM_PROCID='16'"), std::string::npos);
  EXPECT_NE(msg(with("SLURM_NTASKS", "")).find("SLURM_NTASKS"), std::string::npos);
  auto bad_list = with("SLURM_STEP_NODELIST", "");
  bad_list["SLURM_JOB_NODELIST"] = "gpu[07-08";
  EXPECT_NE(msg(bad_list).find("SLURM_JOB_NODELIST='gpu[07-08'"), std::string::npos);
  EXPECT_NE(msg(with("SLURM_STEP_NODELIST", "gpu[07")).find("SLURM_STEP_NODELIST='gpu[07'"),
            std::string::npos);
  auto no_lists = with("SLURM_STEP_NODELIST", "");
  no_lists.erase("SLURM_JOB_NODELIST");
  EXPECT_NE(msg(no_lists).find("SLURM_JOB_NODELIST"), std::string::npos);
  EXPECT_NE(msg(with("SLURM_JOB_ID", "")).find("MASTER_PORT"), std::string::npos);
  auto compressed = with("SLURM_NTASKS_PER_NODE", "");
  compressed["SLURM_TASKS_PER_NODE"] = "8";  // one node listed, but this is node 1
  EXPECT_NE(msg(compressed).find("SLURM_NODEID=1"), std::string::npos);
  EXPECT_NE(msg(with("SLURM_LOCALID", "8")).find("SLURM_LOCALID=8"), std::string::npos);
}

}  // namespace
}  // namespace flatclr::dist
