// The plugin ABI (plugin-sdk/include/dtq/plugin.h) pinned, as Envoy pins its
// dynamic-module ABI: every struct's size and every field's offset on LP64
// (x86-64 and AArch64 alike), the enum values, and a fingerprint of the
// header's text. A plugin built against an older header must keep working,
// so none of these may change silently: fields are only ever appended
// (sizes grow, offsets stay), and any edit of plugin.h makes the fingerprint
// test fail until the pin below is updated on purpose, with the ABI minor
// (appended field) or major (anything else) bumped when the layout moved.
#include <dtq/plugin.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

namespace {

struct Pin {
  const char* what;
  size_t actual;
  size_t pinned;
};

#define DTQ_PIN_SIZE(type, bytes)            \
  Pin {                                      \
    "sizeof(" #type ")", sizeof(type), bytes \
  }
#define DTQ_PIN_FIELD(type, field, offset)                           \
  Pin {                                                              \
    "offsetof(" #type ", " #field ")", offsetof(type, field), offset \
  }

TEST(AbiLayout, EveryStructSizeAndFieldOffsetIsPinned) {
  static_assert(sizeof(void*) == 8, "the pins are for LP64 targets");
  const Pin pins[] = {
      DTQ_PIN_SIZE(dtq_str, 16),
      DTQ_PIN_FIELD(dtq_str, ptr, 0),
      DTQ_PIN_FIELD(dtq_str, len, 8),
      DTQ_PIN_SIZE(dtq_http_header, 32),
      DTQ_PIN_FIELD(dtq_http_header, name, 0),
      DTQ_PIN_FIELD(dtq_http_header, value, 16),
      DTQ_PIN_SIZE(dtq_http_request, 80),
      DTQ_PIN_FIELD(dtq_http_request, struct_size, 0),
      DTQ_PIN_FIELD(dtq_http_request, method, 8),
      DTQ_PIN_FIELD(dtq_http_request, url, 24),
      DTQ_PIN_FIELD(dtq_http_request, headers, 40),
      DTQ_PIN_FIELD(dtq_http_request, header_count, 48),
      DTQ_PIN_FIELD(dtq_http_request, body, 56),
      DTQ_PIN_FIELD(dtq_http_request, timeout_ms, 72),
      DTQ_PIN_FIELD(dtq_http_request, max_attempts, 76),
      DTQ_PIN_SIZE(dtq_http_response, 64),
      DTQ_PIN_FIELD(dtq_http_response, struct_size, 0),
      DTQ_PIN_FIELD(dtq_http_response, status_code, 4),
      DTQ_PIN_FIELD(dtq_http_response, body, 8),
      DTQ_PIN_FIELD(dtq_http_response, headers, 24),
      DTQ_PIN_FIELD(dtq_http_response, header_count, 32),
      DTQ_PIN_FIELD(dtq_http_response, attempts, 40),
      DTQ_PIN_FIELD(dtq_http_response, error, 48),
      DTQ_PIN_SIZE(dtq_job, 88),
      DTQ_PIN_FIELD(dtq_job, struct_size, 0),
      DTQ_PIN_FIELD(dtq_job, job_id, 8),
      DTQ_PIN_FIELD(dtq_job, job_type, 24),
      DTQ_PIN_FIELD(dtq_job, trace_id, 40),
      DTQ_PIN_FIELD(dtq_job, payload, 56),
      DTQ_PIN_FIELD(dtq_job, attempt, 72),
      DTQ_PIN_FIELD(dtq_job, deadline_unix_ms, 80),
      DTQ_PIN_SIZE(dtq_host_api, 88),
      DTQ_PIN_FIELD(dtq_host_api, struct_size, 0),
      DTQ_PIN_FIELD(dtq_host_api, abi_major, 4),
      DTQ_PIN_FIELD(dtq_host_api, abi_minor, 8),
      DTQ_PIN_FIELD(dtq_host_api, report_progress, 16),
      DTQ_PIN_FIELD(dtq_host_api, log, 24),
      DTQ_PIN_FIELD(dtq_host_api, is_cancelled, 32),
      DTQ_PIN_FIELD(dtq_host_api, sleep_ms, 40),
      DTQ_PIN_FIELD(dtq_host_api, http_request, 48),
      DTQ_PIN_FIELD(dtq_host_api, set_result, 56),
      DTQ_PIN_FIELD(dtq_host_api, fail, 64),
      DTQ_PIN_FIELD(dtq_host_api, set_normalized_payload, 72),
      DTQ_PIN_FIELD(dtq_host_api, add_field_error, 80),
      DTQ_PIN_SIZE(dtq_plugin_api, 48),
      DTQ_PIN_FIELD(dtq_plugin_api, struct_size, 0),
      DTQ_PIN_FIELD(dtq_plugin_api, init, 8),
      DTQ_PIN_FIELD(dtq_plugin_api, shutdown, 16),
      DTQ_PIN_FIELD(dtq_plugin_api, validate, 24),
      DTQ_PIN_FIELD(dtq_plugin_api, run, 32),
      DTQ_PIN_FIELD(dtq_plugin_api, cancel, 40),
      DTQ_PIN_SIZE(dtq_plugin_descriptor, 104),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, struct_size, 0),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, abi_major, 4),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, abi_minor, 8),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, name, 16),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, job_type, 24),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, version, 32),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, sdk_version, 40),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, description, 48),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, payload_schema_json, 56),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, allowed_hosts, 64),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, allowed_host_count, 72),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, default_concurrency, 80),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, default_timeout_ms, 84),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, default_max_attempts, 88),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, flags, 92),
      DTQ_PIN_FIELD(dtq_plugin_descriptor, api, 96),
  };
  for (const Pin& pin : pins) {
    EXPECT_EQ(pin.actual, pin.pinned) << pin.what
                                      << " moved: plugins built against the released header would "
                                         "read the wrong bytes. Append fields instead.";
  }
}

TEST(AbiLayout, EnumValuesArePinned) {
  EXPECT_EQ(DTQ_OK, 0);
  EXPECT_EQ(DTQ_ERR_INVALID_ARGUMENT, 1);
  EXPECT_EQ(DTQ_ERR_DENIED, 2);
  EXPECT_EQ(DTQ_ERR_TIMEOUT, 3);
  EXPECT_EQ(DTQ_ERR_TRANSPORT, 4);
  EXPECT_EQ(DTQ_ERR_CANCELLED, 5);
  EXPECT_EQ(DTQ_ERR_JOB_ENDED, 6);
  EXPECT_EQ(DTQ_LOG_DEBUG, 0);
  EXPECT_EQ(DTQ_LOG_INFO, 1);
  EXPECT_EQ(DTQ_LOG_WARN, 2);
  EXPECT_EQ(DTQ_LOG_ERROR, 3);
  EXPECT_EQ(DTQ_PLUGIN_SINGLE_THREADED, 0x1U);
}

// FNV-1a of the header's bytes.
uint64_t fingerprint(const std::string& text) {
  uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return hash;
}

TEST(AbiLayout, TheHeaderChangesOnlyOnPurpose) {
  std::ifstream in(DTQ_SOURCE_DIR "/plugin-sdk/include/dtq/plugin.h", std::ios::binary);
  ASSERT_TRUE(in) << "cannot read plugin.h";
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr uint64_t kPinned = 0x423f9d855e189abaULL;
  constexpr int kPinnedMajor = 1;
  constexpr int kPinnedMinor = 0;
  EXPECT_EQ(DTQ_ABI_VERSION_MAJOR, kPinnedMajor);
  EXPECT_EQ(DTQ_ABI_VERSION_MINOR, kPinnedMinor);
  EXPECT_EQ(fingerprint(text), kPinned)
      << "plugin.h changed (fingerprint 0x" << std::hex << fingerprint(text)
      << "ULL). If only comments changed, update kPinned. If a field was appended, bump "
         "DTQ_ABI_VERSION_MINOR; if "
         "anything else in the layout changed, bump DTQ_ABI_VERSION_MAJOR; then update kPinned and "
         "the version pins "
         "here, and say so in docs/plugin-authoring.md.";
}

}  // namespace
