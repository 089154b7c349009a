// torchrun's environment variables -> DistEnv, and the errors for malformed or incomplete ones.
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
}

}  // namespace
}  // namespace flatclr::dist
