// Where the four servers of a distributed deployment are: the URIs from
// the flags, the environment or the config file, each remembered with
// where it came from so that a message can name the flag or variable to fix.
// Reading a URI is each driver's own business (redis::parse_uri and its
// kin, wired in distributed_node.hpp).
//
// Sources, the first that names a backend wins:
//   flag          --kafka BOOTSTRAP  --redis URI  --mongo URI  --amqp URI
//   environment   DTQ_KAFKA_BOOTSTRAP DTQ_REDIS_URL DTQ_MONGODB_URI DTQ_AMQP_URL
//                 (what `scripts/servers/all.sh env` prints)
//   config file   {"backends": {"kafka": …, "redis": …, "mongo": …, "amqp": …}}
// The Kafka topic template likewise: --kafka-topic-template,
// KAFKA_TOPIC_TEMPLATE (DESIGN §2), "kafka_topic_template"; and the second
// one, of the high and low priority classes' topics:
// --kafka-priority-topic-template, KAFKA_PRIORITY_TOPIC_TEMPLATE,
// "kafka_priority_topic_template".
//
// Thread-safety: plain functions and values; resolve_backends() reads the
// environment, so call it before any thread starts.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

#include "dtq/core/status.hpp"

namespace dtq::cli {

// What the flags said (empty: not given).
struct BackendFlags {
  std::string kafka;
  std::string redis;
  std::string mongo;
  std::string amqp;
  std::string kafka_topic_template;
  std::string kafka_priority_topic_template;
};
void add_backend_flags(CLI::App& command, BackendFlags& flags);

// The resolved URIs, each with where it came from ("--redis",
// "$DTQ_REDIS_URL", "config file F (backends.redis)") for messages.
struct BackendUris {
  struct Source {
    std::string value;
    std::string from;
  };
  Source kafka, redis, mongo, amqp, kafka_topic_template, kafka_priority_topic_template;

  bool any() const {
    return !kafka.value.empty() || !redis.value.empty() || !mongo.value.empty() ||
           !amqp.value.empty();
  }
  // InvalidArgument naming every missing backend, its flag and its variable.
  Status require_all(std::string_view command) const;
};

// Flags, then the environment, then the config file's "backends" section
// (`config_file` may be empty). NotFound for an unreadable file,
// InvalidArgument for a malformed section.
StatusOr<BackendUris> resolve_backends(const BackendFlags& flags, const std::string& config_file);

}  // namespace dtq::cli
