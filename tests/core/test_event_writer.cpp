// TensorBoard event files: written by EventWriter, read back by TensorBoard's own reader (scripts/tb_read.py:
// its record reader, CRC checks and event loader; no code shared with the encoder). Also: a process
// killed while writing leaves a readable file, and a corrupted byte is caught by the reader.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../test_paths.h"
#include "flatclr/core/event_writer.h"

namespace fs = std::filesystem;
using flatclr::core::EventWriter;

namespace {

// Runs the independent reader; returns its JSON (or discarded JSON) and the exit code.
std::pair<nlohmann::json, int> read_events(const std::string& path) {
  const std::string out = path + ".json";
  const std::string cmd = flatclr::testing::python() + " " +
                          flatclr::testing::source_path("scripts/tb_read.py") + " '" + path + "' > '" + out +
                          "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return {nlohmann::json::parse(ss.str(), nullptr, false), WEXITSTATUS(rc)};
}

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("flatclr_events_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST(EventWriter, IndependentReaderDecodesScalarsAndSessionStart) {
  auto dir = fresh_dir("scalars");
  std::string path;
  {
    EventWriter w(dir.string());
    path = w.path();
    EXPECT_NE(fs::path(path).filename().string().find("events.out.tfevents."), std::string::npos);
    w.add_scalars(0, {{"loss/info_nce", 5.25}, {"diag/p_pos_mean", 0.125}});
    w.add_scalars(7, {{"loss/info_nce", -1.5e-3}});
    w.add_scalars(5000000000LL, {{"perf/images_per_s", 1234.5}});  // a step past 32 bits
    w.add_session_start(7);
  }
  auto [j, rc] = read_events(path);
  ASSERT_EQ(rc, 0) << j.dump();
  ASSERT_FALSE(j.is_discarded());
  const auto& f = j["files"][0];
  EXPECT_EQ(f["file_version"], "brain.Event:2");
  EXPECT_EQ(f["records"], 6);
  EXPECT_FALSE(f["truncated_tail"].get<bool>());
  ASSERT_EQ(f["scalars"].size(), 4u);
  EXPECT_EQ(f["scalars"][0]["tag"], "loss/info_nce");
  EXPECT_EQ(f["scalars"][0]["step"], 0);
  EXPECT_EQ(f["scalars"][0]["value"].get<double>(), 5.25);
  EXPECT_EQ(f["scalars"][1]["tag"], "diag/p_pos_mean");
  EXPECT_EQ(f["scalars"][1]["value"].get<double>(), 0.125);
  EXPECT_EQ(f["scalars"][2]["step"], 7);
  EXPECT_EQ(f["scalars"][2]["value"].get<double>(), static_cast<double>(-1.5e-3f));  // stored as float32
  EXPECT_EQ(f["scalars"][3]["step"].get<int64_t>(), 5000000000LL);
  EXPECT_EQ(f["scalars"][3]["tag"], "perf/images_per_s");
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(f["scalars"][0]["wall_time"].get<double>(), now, 60.0);
  ASSERT_EQ(f["session_starts"].size(), 1u);
  EXPECT_EQ(f["session_starts"][0], 7);
  fs::remove_all(dir);
}

TEST(EventWriter, ProcessKilledMidRunLeavesAReadableFile) {
  auto dir = fresh_dir("killed");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EventWriter w(dir.string());
    for (int64_t step = 0;; ++step)
      w.add_scalars(step, {{"loss/info_nce", 1.0 / (step + 1)}, {"diag/x", 2.0}});
  }
  // Let it write some tens of kilobytes, then kill it without warning.
  auto file_size = [&]() -> uintmax_t {
    for (auto& e : fs::directory_iterator(dir)) return fs::file_size(e.path());
    return 0;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (file_size() < 40000 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  std::string path;
  for (auto& e : fs::directory_iterator(dir)) path = e.path().string();
  ASSERT_FALSE(path.empty());
  auto [j, rc] = read_events(path);
  ASSERT_EQ(rc, 0) << j.dump();
  const auto& scalars = j["files"][0]["scalars"];
  ASSERT_GT(scalars.size(), 10u);
  // Every complete record is there, in order, with its value.
  for (size_t i = 0; i < scalars.size(); ++i) {
    const int64_t step = static_cast<int64_t>(i / 2);
    ASSERT_EQ(scalars[i]["step"].get<int64_t>(), step);
    const double want = i % 2 == 0 ? static_cast<double>(static_cast<float>(1.0 / (step + 1))) : 2.0;
    ASSERT_EQ(scalars[i]["value"].get<double>(), want);
  }
  fs::remove_all(dir);
}

TEST(EventWriter, ReaderCatchesCorruptionAndAcceptsACutTail) {
  auto dir = fresh_dir("corrupt");
  std::string path;
  {
    EventWriter w(dir.string());
    path = w.path();
    w.add_scalars(1, {{"loss/info_nce", 3.0}});
    w.add_scalars(2, {{"loss/info_nce", 2.0}});
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  // Cut in the middle of the last record: the first ones still decode.
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes.substr(0, bytes.size() - 5);
  }
  auto [cut, rc_cut] = read_events(path);
  ASSERT_EQ(rc_cut, 0) << cut.dump();
  EXPECT_TRUE(cut["files"][0]["truncated_tail"].get<bool>());
  EXPECT_EQ(cut["files"][0]["scalars"].size(), 1u);
  // One flipped byte inside a payload fails the data CRC.
  std::string bad = bytes;
  bad[bad.size() - 8] ^= 0x20;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bad;
  }
  auto [j, rc] = read_events(path);
  EXPECT_NE(rc, 0);
  fs::remove_all(dir);
}

TEST(EventWriter, FrameLayout) {
  const std::string payload = "abc";
  const std::string r = EventWriter::frame_record(payload);
  ASSERT_EQ(r.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(static_cast<unsigned char>(r[0]), 3u);
  for (int i = 1; i < 8; ++i) EXPECT_EQ(r[i], 0);
  EXPECT_EQ(r.substr(12, 3), "abc");
}

TEST(EventWriter, UnwritableFolderIsAClearError) {
  try {
    EventWriter w("/nonexistent/flatclr/run");
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/flatclr/run"), std::string::npos) << e.what();
  }
}
