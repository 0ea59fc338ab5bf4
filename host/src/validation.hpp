// The object behind the plugin ABI's opaque dtq_validation handle: collects
// what one validate() call reports. Private to the host.
#pragma once

#include <dtq/plugin.h>

#include "dtq/host/plugin.hpp"

struct dtq_validation {
  dtq::host::ValidationOutcome outcome;
  bool normalized_set = false;
};
