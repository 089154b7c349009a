// CRC-32C against its published check value and an independent bitwise computation.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "flatclr/core/crc32c.h"

using flatclr::core::crc32c;
using flatclr::core::masked_crc32c;

namespace {
// Bit-at-a-time CRC-32C straight from the definition (no table).
uint32_t bitwise(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}
}  // namespace

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the standard check value of CRC-32C
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
  const std::string ones(32, '\xff');
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);  // RFC 3720 B.4: 32 bytes of 0xFF
}

TEST(Crc32c, MatchesBitwiseDefinition) {
  std::string s;
  for (int i = 0; i < 1000; ++i) {
    s.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
    ASSERT_EQ(crc32c(s.data(), s.size()), bitwise(s)) << "length " << s.size();
  }
}

TEST(Crc32c, MaskIsTensorFlows) {
  const uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}
