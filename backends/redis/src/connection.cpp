#include "connection.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>

#include "dtq/core/backoff.hpp"

namespace dtq::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

Reply convert(const redisReply& raw) {
  Reply reply;
  switch (raw.type) {
    case REDIS_REPLY_STRING:
      reply.type = Reply::Type::kString;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_STATUS:
      reply.type = Reply::Type::kStatus;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ERROR:
      reply.type = Reply::Type::kError;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_INTEGER:
      reply.type = Reply::Type::kInteger;
      reply.integer = raw.integer;
      break;
    case REDIS_REPLY_ARRAY:
      reply.type = Reply::Type::kArray;
      reply.elements.reserve(raw.elements);
      for (size_t i = 0; i < raw.elements; ++i) reply.elements.push_back(convert(*raw.element[i]));
      break;
    default:
      reply.type = Reply::Type::kNil;
      break;
  }
  return reply;
}

Reply take(void* raw) {
  Reply reply = convert(*static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return reply;
}

// The reason OpenSSL gave last, or "" when it gave none.
std::string openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  if (code == 0) return "no detail";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

Status RedisSettings::validate() const {
  if (host.empty()) return invalid_argument("redis: host is empty");
  if (port == 0) return invalid_argument("redis: port is 0");
  if (db < 0) return invalid_argument("redis: db " + std::to_string(db) + " is negative");
  if (status_ttl.count() <= 0) return invalid_argument("redis: status_ttl must be positive");
  if (connect_timeout.count() <= 0)
    return invalid_argument("redis: connect_timeout must be positive");
  if (command_timeout.count() <= 0)
    return invalid_argument("redis: command_timeout must be positive");
  if (reconnect_backoff_min.count() <= 0 || reconnect_backoff_max < reconnect_backoff_min) {
    return invalid_argument("redis: reconnect backoff needs 0 < min <= max");
  }
  if (pool_size == 0) return invalid_argument("redis: pool_size must be at least 1");
  if (!username.empty() && password.empty())
    return invalid_argument("redis: a username needs a password");
  if (tls.cert_file.empty() != tls.key_file.empty())
    return invalid_argument(
        "redis: a TLS client certificate needs its key, and a key its certificate");
  if (!tls.enabled && (!tls.ca_file.empty() || !tls.cert_file.empty() || !tls.server_name.empty()))
    return invalid_argument("redis: TLS files or a server name are set but TLS is off");
  return {};
}

std::string RedisSettings::describe() const {
  return host + ":" + std::to_string(port) + "/" + std::to_string(db) +
         (tls.enabled ? " over TLS" : "");
}

std::optional<int64_t> reply_integer(const Reply& reply) {
  if (reply.type == Reply::Type::kInteger) return reply.integer;
  if (reply.type != Reply::Type::kString || reply.text.empty() || reply.text.size() > 18)
    return std::nullopt;
  int64_t value = 0;
  size_t i = 0;
  const bool negative = reply.text[0] == '-';
  if (negative) i = 1;
  if (i == reply.text.size()) return std::nullopt;
  for (; i < reply.text.size(); ++i) {
    const char c = reply.text[i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

// --- Connection -------------------------------------------------------------

Status Connection::connect() {
  close();
  redisContext* context = redisConnectWithTimeout(settings_.host.c_str(), settings_.port,
                                                  to_timeval(settings_.connect_timeout));
  if (context == nullptr) return unavailable("redis: cannot allocate a connection");
  if (context->err != 0) {
    std::string why = context->errstr;
    redisFree(context);
    return unavailable("cannot connect to redis at " + settings_.describe() + ": " + why);
  }
  context_ = context;
  // Before the TLS handshake too: a server that stops answering it must not
  // hang the connect.
  if (redisSetTimeout(context_, to_timeval(settings_.command_timeout)) != REDIS_OK ||
      redisEnableKeepAlive(context_) != REDIS_OK) {
    return io_failure("setting socket options");
  }
  if (settings_.tls.enabled) {
    if (Status secured = start_tls(); !secured.ok()) {
      close();
      return secured;
    }
  }
  if (!settings_.password.empty()) {
    auto auth = settings_.username.empty()
                    ? command({"AUTH", settings_.password})
                    : command({"AUTH", settings_.username, settings_.password});
    if (!auth.ok()) return auth.status();
    if (auth->is_error()) {
      close();
      return failed_precondition("redis at " + settings_.describe() +
                                 " refused the credentials: " + auth->text);
    }
  }
  if (settings_.db != 0) {
    auto select = command({"SELECT", std::to_string(settings_.db)});
    if (!select.ok()) return select.status();
    if (select->is_error()) {
      close();
      return failed_precondition("redis at " + settings_.describe() +
                                 " refused SELECT: " + select->text);
    }
  }
  return {};
}

Status Connection::start_tls() {
  const RedisTls& tls = settings_.tls;
  const auto refuse = [&](std::string_view what) {
    return unavailable("cannot start TLS with redis at " + settings_.describe() + ": " +
                       std::string(what) + ": " + openssl_error());
  };
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()),
                                                            &SSL_CTX_free);
  if (!context) return refuse("no TLS context");
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  const bool trusted = tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(context.get()) == 1
                                           : SSL_CTX_load_verify_locations(
                                                 context.get(), tls.ca_file.c_str(), nullptr) == 1;
  if (!trusted) return refuse("cannot load the CA certificates " + tls.ca_file);
  if (!tls.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(context.get(), tls.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(context.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(context.get()) != 1)) {
    return refuse("cannot load the client certificate " + tls.cert_file + " and its key");
  }
  SSL* ssl = SSL_new(context.get());  // holds its own reference to the context
  if (ssl == nullptr) return refuse("no TLS session");
  // The certificate must name what we connected to: hiredis itself checks
  // only that a trusted CA signed it.
  const std::string& name = tls.server_name.empty() ? settings_.host : tls.server_name;
  X509_VERIFY_PARAM* verify = SSL_get0_param(ssl);
  if (X509_VERIFY_PARAM_set1_ip_asc(verify, name.c_str()) != 1) {
    X509_VERIFY_PARAM_set_hostflags(verify, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    // SSL_set_tlsext_host_name(), without the macro's C cast.
    if (SSL_set1_host(ssl, name.c_str()) != 1 ||
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str())) != 1) {
      SSL_free(ssl);
      return refuse("cannot set the server name " + name);
    }
  }
  ERR_clear_error();
  if (redisInitiateSSL(context_, ssl) != REDIS_OK) {  // takes the session only when it succeeds
    const long verified = SSL_get_verify_result(ssl);
    SSL_free(ssl);
    std::string why = context_->errstr;
    if (verified != X509_V_OK)
      why = "the server's certificate: " + std::string(X509_verify_cert_error_string(verified));
    return unavailable("TLS handshake with redis at " + settings_.describe() + " failed: " + why);
  }
  return {};
}

void Connection::close() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

int Connection::fd() const {
  return context_ != nullptr ? context_->fd : -1;
}

Status Connection::io_failure(std::string_view what) {
  const int error = errno;
  const bool timed_out = context_ != nullptr && context_->err == REDIS_ERR_IO &&
                         (error == EAGAIN || error == EWOULDBLOCK);
  std::string why = context_ != nullptr ? context_->errstr : "not connected";
  close();
  if (timed_out) {
    return {StatusCode::kDeadlineExceeded, "redis at " + settings_.describe() +
                                               " did not answer within " +
                                               std::to_string(settings_.command_timeout.count()) +
                                               " ms (" + std::string(what) + ")"};
  }
  return unavailable("connection to redis at " + settings_.describe() + " lost (" +
                     std::string(what) + "): " + why);
}

StatusOr<Reply> Connection::command(Args args) {
  if (context_ == nullptr) return unavailable("not connected to redis at " + settings_.describe());
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  errno = 0;
  void* raw =
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (raw == nullptr) return io_failure(args.empty() ? "command" : args[0]);
  return take(raw);
}

StatusOr<std::vector<Reply>> Connection::pipeline(std::span<const Args> commands) {
  for (const Args args : commands) {
    if (Status s = append(args); !s.ok()) return s;
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (const Args args : commands) {
    void* raw = nullptr;
    errno = 0;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr)
      return io_failure(args.empty() ? "command" : args[0]);
    replies.push_back(take(raw));
  }
  return replies;
}

Status Connection::append(Args args) {
  if (context_ == nullptr) return unavailable("not connected to redis at " + settings_.describe());
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                             lengths.data()) != REDIS_OK) {
    return io_failure("queueing a command");
  }
  return {};
}

Status Connection::flush() {
  if (context_ == nullptr) return unavailable("not connected to redis at " + settings_.describe());
  int done = 0;
  while (done == 0) {
    errno = 0;
    if (redisBufferWrite(context_, &done) != REDIS_OK) return io_failure("write");
  }
  return {};
}

Status Connection::read_available() {
  if (context_ == nullptr) return unavailable("not connected to redis at " + settings_.describe());
  errno = 0;
  if (redisBufferRead(context_) != REDIS_OK) return io_failure("read");
  return {};
}

StatusOr<std::optional<Reply>> Connection::next_reply() {
  if (context_ == nullptr) return unavailable("not connected to redis at " + settings_.describe());
  void* raw = nullptr;
  if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) return io_failure("parsing a reply");
  if (raw == nullptr) return std::optional<Reply>();
  return std::optional<Reply>(take(raw));
}

// --- ConnectionPool ---------------------------------------------------------

class ConnectionPool::Lease {
 public:
  Lease(ConnectionPool& pool, Slot& slot) : pool_(pool), slot_(slot) {}
  ~Lease() { pool_.release(&slot_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Connection& connection() { return *slot_.connection; }

 private:
  ConnectionPool& pool_;
  Slot& slot_;
};

ConnectionPool::ConnectionPool(RedisSettings settings) : settings_(std::move(settings)) {
  slots_.resize(settings_.pool_size);
  for (auto& slot : slots_) slot.connection = std::make_unique<Connection>(settings_);
}

ConnectionPool::~ConnectionPool() = default;

StatusOr<ConnectionPool::Slot*> ConnectionPool::acquire() {
  MutexLock lock(mutex_);
  const auto free_slot = [this]() DTQ_REQUIRES(mutex_) -> Slot* {
    for (auto& slot : slots_) {
      if (!slot.busy) return &slot;
    }
    return nullptr;
  };
  Slot* slot = nullptr;
  if (!released_.wait_for(lock, settings_.command_timeout,
                          [&]() DTQ_REQUIRES(mutex_) { return (slot = free_slot()) != nullptr; })) {
    return Status(StatusCode::kDeadlineExceeded,
                  "all " + std::to_string(slots_.size()) + " connections to redis at " +
                      settings_.describe() + " stayed busy for " +
                      std::to_string(settings_.command_timeout.count()) + " ms");
  }
  slot->busy = true;
  return slot;
}

void ConnectionPool::release(Slot* slot) {
  {
    MutexLock lock(mutex_);
    slot->busy = false;
  }
  released_.notify_one();
}

Status ConnectionPool::reconnect(Connection& connection) {
  {
    MutexLock lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (failures_ > 0 && now < next_attempt_) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now);
      return unavailable("redis at " + settings_.describe() +
                         " is unreachable; next connection attempt in " +
                         std::to_string(wait.count()) + " ms");
    }
  }
  Status connected = connection.connect();
  MutexLock lock(mutex_);
  if (connected.ok()) {
    if (reported_down_) spdlog::info("redis at {} is reachable again", settings_.describe());
    reported_down_ = false;
    failures_ = 0;
    return connected;
  }
  ++failures_;
  next_attempt_ =
      std::chrono::steady_clock::now() +
      backoff_delay(settings_.reconnect_backoff_min, settings_.reconnect_backoff_max, failures_);
  if (!reported_down_) {
    spdlog::warn("{}; retrying with backoff up to {} ms", connected.message(),
                 settings_.reconnect_backoff_max.count());
    reported_down_ = true;
  }
  return connected;
}

template <class Use>
std::invoke_result_t<Use> ConnectionPool::with_reconnect(Connection& connection, Use use) {
  for (int attempt = 0;; ++attempt) {
    const bool was_connected = connection.connected();
    if (!was_connected) {
      if (Status s = reconnect(connection); !s.ok()) return s;
    }
    auto answer = use();
    if (answer.ok()) return answer;
    // An idle connection may have been lost long ago (a server restart):
    // one more try on a fresh one. A timeout is not retried.
    if (!was_connected || attempt > 0 || answer.status().code() == StatusCode::kDeadlineExceeded)
      return answer;
  }
}

StatusOr<Reply> ConnectionPool::run_on(Connection& connection, Args args) {
  return with_reconnect(connection, [&] { return connection.command(args); });
}

StatusOr<std::vector<Reply>> ConnectionPool::pipeline_on(Connection& connection,
                                                         std::span<const Args> commands) {
  return with_reconnect(connection, [&] { return connection.pipeline(commands); });
}

StatusOr<Reply> ConnectionPool::run(Args args) {
  auto slot = acquire();
  if (!slot.ok()) return slot.status();
  Lease lease(*this, **slot);
  return run_on(lease.connection(), args);
}

StatusOr<std::string> ConnectionPool::load(Connection& connection, const Script& script) {
  const std::string_view args[] = {"SCRIPT", "LOAD", script.source};
  auto reply = run_on(connection, args);
  if (!reply.ok()) return reply.status();
  if (reply->type != Reply::Type::kString) {
    return internal_error(std::string("redis refused the ") + script.name +
                          " script: " + reply->text);
  }
  MutexLock lock(mutex_);
  for (auto& [known, sha] : shas_) {
    if (known == &script) {
      sha = reply->text;
      return sha;
    }
  }
  shas_.emplace_back(&script, reply->text);
  return reply->text;
}

std::string ConnectionPool::known_sha(const Script& script) {
  MutexLock lock(mutex_);
  for (const auto& [known, sha] : shas_) {
    if (known == &script) return sha;
  }
  return {};
}

StatusOr<Reply> ConnectionPool::eval(const Script& script, Args keys, Args args) {
  const ScriptRun run{.keys = {keys.begin(), keys.end()}, .args = {args.begin(), args.end()}};
  auto replies = eval_pipelined(script, {&run, 1});
  if (!replies.ok()) return replies.status();
  return std::move(replies->front());
}

StatusOr<std::vector<Reply>> ConnectionPool::eval_pipelined(const Script& script,
                                                            std::span<const ScriptRun> runs) {
  if (runs.empty()) return std::vector<Reply>();
  auto slot = acquire();
  if (!slot.ok()) return slot.status();
  Lease lease(*this, **slot);
  std::string sha = known_sha(script);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (sha.empty()) {
      auto loaded = load(lease.connection(), script);
      if (!loaded.ok()) return loaded.status();
      sha = std::move(*loaded);
    }
    std::vector<std::string> key_counts;
    std::vector<std::vector<std::string_view>> argvs;
    key_counts.reserve(runs.size());
    argvs.reserve(runs.size());
    for (const ScriptRun& run : runs) {
      key_counts.push_back(std::to_string(run.keys.size()));
      auto& argv = argvs.emplace_back();
      argv.reserve(3 + run.keys.size() + run.args.size());
      argv.insert(argv.end(), {"EVALSHA", sha, key_counts.back()});
      argv.insert(argv.end(), run.keys.begin(), run.keys.end());
      argv.insert(argv.end(), run.args.begin(), run.args.end());
    }
    const std::vector<Args> commands(argvs.begin(), argvs.end());
    auto replies = pipeline_on(lease.connection(), commands);
    if (!replies.ok()) return replies;
    // NOSCRIPT (the server lost its script cache): every run is sent again
    // once the script is loaded, which the scripts dtq runs allow, since
    // running one twice changes nothing more than running it once.
    const bool lost_script = std::any_of(replies->begin(), replies->end(), [](const Reply& reply) {
      return reply.is_error() && reply.text.starts_with("NOSCRIPT");
    });
    if (!lost_script) return replies;
    sha.clear();
  }
  return internal_error(std::string("redis keeps answering NOSCRIPT for the ") + script.name +
                        " script");
}

}  // namespace dtq::redis
