// Kafka's bootstrap servers and connection security, as an operator writes
// them (the driver owns their reading, as userver's dsn.hpp has it):
//
//   HOST:PORT[,HOST:PORT...]
//   kafka://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][?OPTIONS]
//
// Each broker needs its port. OPTIONS are librdkafka's own property names:
//
//   security.protocol         plaintext | ssl | sasl_plaintext | sasl_ssl
//   sasl.mechanism            PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
//   ssl.ca.location           the CA bundle (PEM) of the brokers' certificates;
//                             without it the system's trusted CAs
//   ssl.certificate.location  a client certificate (PEM, mutual TLS), with
//   ssl.key.location          its key, and ssl.key.password when encrypted
//
// USER and PASSWORD (percent-encoded: Event Hubs' user is %24ConnectionString
// and its password a whole connection string) are the SASL credentials;
// with them security.protocol defaults to sasl_ssl and sasl.mechanism to
// PLAIN, so credentials never travel in clear unless asked
// (security.protocol=sasl_plaintext). The brokers' host names are verified
// against their certificates (librdkafka's default).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "dtq/core/status.hpp"
#include "dtq/kafka/kafka_job_queue.hpp"

namespace dtq::kafka {

// InvalidArgument quoting the list, saying what is wrong and the form
// expected. The result is what KafkaSettings::bootstrap_servers takes,
// without the kafka:// prefix; credentials and options are refused.
StatusOr<std::string> parse_bootstrap_servers(std::string_view text);

// What a kafka:// URI (or a bare HOST:PORT list) says: the brokers and the
// connection's security.
struct KafkaConnection {
  std::string bootstrap_servers;
  KafkaSecurity security;
};

// InvalidArgument quoting the URI (its password hidden), saying what is
// wrong and the form expected.
StatusOr<KafkaConnection> parse_kafka_uri(std::string_view text);

}  // namespace dtq::kafka
