// Slurm's compressed host and task lists, as srun exports them, expanded; malformed ones name the variable.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/dist/slurm_env.h"

namespace flatclr::dist {
namespace {

using Hosts = std::vector<std::string>;

Hosts expand(const std::string& list) { return expand_hostlist(list, "SLURM_JOB_NODELIST"); }

TEST(SlurmHostlist, ExpandsRangesListsAndPadding) {
  EXPECT_EQ(expand("node7"), (Hosts{"node7"}));
  EXPECT_EQ(expand("gpu[01-04,07]"), (Hosts{"gpu01", "gpu02", "gpu03", "gpu04", "gpu07"}));
  EXPECT_EQ(expand("node1,node[3-5]"), (Hosts{"node1", "node3", "node4", "node5"}));
  EXPECT_EQ(expand("a-[1-2]-b"), (Hosts{"a-1-b", "a-2-b"}));
  // The low bound's width is the padding, also across a power of ten.
  EXPECT_EQ(expand("n[08-10]"), (Hosts{"n08", "n09", "n10"}));
  EXPECT_EQ(expand("n[8-10]"), (Hosts{"n8", "n9", "n10"}));
  EXPECT_EQ(expand("n[098-101]"), (Hosts{"n098", "n099", "n100", "n101"}));
  // Several groups multiply, the rightmost varying fastest.
  EXPECT_EQ(expand("r[1-2]n[1,3]"), (Hosts{"r1n1", "r1n3", "r2n1", "r2n3"}));
  // Dotted addresses are names too (the namespaced-host tests use them).
  EXPECT_EQ(expand("10.231.7.[1-2]"), (Hosts{"10.231.7.1", "10.231.7.2"}));
  EXPECT_EQ(expand("x[5],y"), (Hosts{"x5", "y"}));
}

TEST(SlurmHostlist, FirstHostNeedsNoFullExpansion) {
  EXPECT_EQ(first_host("gpu[01-04,07]", "V"), "gpu01");
  EXPECT_EQ(first_host("node[3-5],node1", "V"), "node3");
  EXPECT_EQ(first_host("big[0000001-9999999]", "V"), "big0000001");
  EXPECT_EQ(expand_hostlist("big[0000001-9999999]", "V", 3),
            (Hosts{"big0000001", "big0000002", "big0000003"}));
}

TEST(SlurmHostlist, MalformedListsNameTheVariableAndValue) {
  auto msg = [](const std::string& list) {
    try {
      expand(list);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const std::string bad : {"", "gpu[01-04", "gpu01-04]", "gpu[]", "gpu[a-b]", "gpu[4-1]", "a,,b", "a,",
                                "gpu[1-2,]", "a b", "n[[1]]"}) {
    const auto m = msg(bad);
    EXPECT_NE(m.find("SLURM_JOB_NODELIST='" + bad + "'"), std::string::npos) << bad << ": " << m;
  }
}

TEST(SlurmTasksPerNode, ExpandsRepeats) {
  auto expand_tasks = [](const std::string& s) { return expand_tasks_per_node(s, "SLURM_TASKS_PER_NODE"); };
  EXPECT_EQ(expand_tasks("8"), (std::vector<int>{8}));
  EXPECT_EQ(expand_tasks("2(x3),1"), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_EQ(expand_tasks("8(x2)"), (std::vector<int>{8, 8}));
  EXPECT_EQ(expand_tasks("1,3(x1),2"), (std::vector<int>{1, 3, 2}));
  for (const std::string bad : {"", "2(x3", "(x3)", "2(3)", "0", "2(x0)", "a", "2,,1"}) {
    try {
      expand_tasks(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("SLURM_TASKS_PER_NODE='" + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(SlurmPort, DerivedFromTheJobsLastFourDigits) {
  EXPECT_EQ(default_port_for_job("1234567"), 19567);
  EXPECT_EQ(default_port_for_job("42"), 15042);
  EXPECT_EQ(default_port_for_job("9999"), 24999);
  EXPECT_THROW(default_port_for_job("12a"), UsageError);
}

}  // namespace
}  // namespace flatclr::dist
