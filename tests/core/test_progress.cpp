#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "flatclr/core/progress.h"

using namespace flatclr::core;

TEST(Progress, FormatDuration) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(59.6), "0:01:00");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(-1), "-:--:--");
}

TEST(Progress, LinesModePrintsParseableLines) {
  std::ostringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  Progress p(ProgressMode::kLines, "epoch 1/3", 10, 32);
  p.update(5, "loss 1.2345");
  p.finish();
  std::cout.rdbuf(old);
  const std::string s = captured.str();
  EXPECT_EQ(s.rfind("progress | epoch 1/3 | step 5/10 | img/s ", 0), 0u) << s;
  EXPECT_NE(s.find("| eta "), std::string::npos) << s;
  EXPECT_NE(s.find("| loss 1.2345\n"), std::string::npos) << s;
}

TEST(Progress, ModeNames) {
  using flatclr::core::parse_choice;
  EXPECT_EQ(parse_choice<ProgressMode>("bar"), ProgressMode::kBar);
  EXPECT_EQ(parse_choice<ProgressMode>("lines"), ProgressMode::kLines);
  EXPECT_EQ(parse_choice<ProgressMode>("none"), ProgressMode::kNone);
  EXPECT_EQ(parse_choice<ProgressMode>("auto"), ProgressMode::kAuto);
  EXPECT_FALSE(parse_choice<ProgressMode>("fancy").has_value());
  // auto becomes a bar or lines, never stays auto; the others stay as they are.
  EXPECT_NE(flatclr::core::resolve_progress_mode(ProgressMode::kAuto), ProgressMode::kAuto);
  EXPECT_EQ(flatclr::core::resolve_progress_mode(ProgressMode::kNone), ProgressMode::kNone);
}
