// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord framing uses it, and TensorBoard's
// "masked" form ((crc >> 15 | crc << 17) + 0xa282ead8). Table-driven, byte at a time: event files are small.
// Known answer: crc32c("123456789") = 0xE3069283 (tested, and cross-checked by Python's crc32c package).
#pragma once

#include <cstddef>
#include <cstdint>

namespace flatclr::core {

uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace flatclr::core
