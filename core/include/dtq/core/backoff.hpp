// The delay before the next attempt to reach a server that failed: one
// schedule for every backend's reconnects, so they all back off alike.
//
// Thread-safety: safe to call from any thread (the jitter's generator is
// per thread).
#pragma once

#include <chrono>
#include <cstdint>

namespace dtq {

// Exponential backoff with jitter: after 1, 2, 3 … `failures` the delay is
// `min`, 2·min, 4·min … capped at `max`, each drawn in [d/2, d] so that
// clients that failed together do not come back together.
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds min,
                                        std::chrono::milliseconds max, uint32_t failures);

}  // namespace dtq
