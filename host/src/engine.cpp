#include "dtq/host/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>

namespace dtq::host {

StatusOr<std::unique_ptr<Engine>> Engine::create(const PluginRegistry& plugins,
                                                 const EngineSettings& settings, Backends backends,
                                                 const HttpClient& http) {
  for (const auto& type : settings.only) {
    if (plugins.find(type) == nullptr) {
      return not_found("--only " + type + ": no loaded plugin provides job type \"" + type + "\"");
    }
  }
  std::unique_ptr<Engine> engine(new Engine(settings, backends));
  for (const auto& plugin : plugins.list()) {
    const PluginInfo& info = plugin->info();
    if (!settings.only.empty() && settings.only.count(info.job_type) == 0) continue;
    PluginSettings overrides;
    if (auto it = settings.per_plugin.find(info.job_type); it != settings.per_plugin.end())
      overrides = it->second;
    PoolSettings pool = resolve_pool_settings(info, overrides);
    if (settings.backoff_base) pool.backoff_base = *settings.backoff_base;
    if (settings.cancel_grace) pool.cancel_grace = *settings.cancel_grace;
    engine->pools_.push_back(std::make_unique<WorkerPool>(plugin, pool, backends, http,
                                                          outbound_policy(info, overrides)));
  }
  return engine;
}

Engine::~Engine() {
  drain();
}

void Engine::start() {
  for (auto& pool : pools_) {
    const auto& s = pool->settings();
    spdlog::info("pool job_type={} concurrency={} timeout_ms={} max_attempts={}",
                 pool->plugin().info().job_type, s.concurrency, s.timeout.count(), s.max_attempts);
    pool->start();
  }
  taking_work_ = true;
}

void Engine::drain() {
  if (drained_) return;
  drained_ = true;
  taking_work_ = false;
  const auto deadline = Clock::now() + settings_.drain_grace;
  for (auto& pool : pools_) pool->stop_taking();
  backends_.queue.close();
  for (auto& pool : pools_) pool->drain(deadline);
}

void Engine::run_until_signal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Block before starting threads so they inherit the mask and sigwait gets
  // the signal here.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  start();
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received {}; draining (grace {} ms)", received == SIGTERM ? "SIGTERM" : "SIGINT",
               settings_.drain_grace.count());
  drain();
  spdlog::info("drained; exiting");
}

std::map<std::string, PoolStats> Engine::stats() const {
  std::map<std::string, PoolStats> out;
  for (const auto& pool : pools_) out.emplace(pool->plugin().info().job_type, pool->stats());
  return out;
}

std::vector<const WorkerPool*> Engine::pools() const {
  std::vector<const WorkerPool*> out;
  for (const auto& pool : pools_) out.push_back(pool.get());
  return out;
}

JobTypeInfo job_type_info(const WorkerPool& pool) {
  const auto& info = pool.plugin().info();
  const PluginHealth health = pool.plugin().health();
  return {.job_type = info.job_type,
          .name = info.name,
          .version = info.version,
          .description = info.description,
          .payload_schema_json = info.payload_schema_json,
          .abi_version = std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor),
          .concurrency = pool.settings().concurrency,
          .isolation = health.isolated ? "process" : "in_process",
          .runner_crashes = health.crashes,
          .crash_looping = health.crash_looping(),
          .last_crash = health.last_crash};
}

StatusOr<std::vector<JobTypeInfo>> EngineJobTypeRegistry::list() {
  std::vector<JobTypeInfo> types;
  const bool running = engine_.taking_work();
  for (const auto* pool : engine_.pools()) {
    JobTypeInfo type = job_type_info(*pool);
    type.pools = running ? 1U : 0U;
    type.in_flight = pool->stats().in_flight;
    types.push_back(std::move(type));
  }
  std::sort(types.begin(), types.end(),
            [](const auto& a, const auto& b) { return a.job_type < b.job_type; });
  return types;
}

std::optional<ValidationOutcome> LocalPayloadValidator::validate(std::string_view job_type,
                                                                 std::string_view payload) {
  const auto plugin = plugins_.find(job_type);
  if (!plugin) return std::nullopt;
  return plugin->validate(payload);
}

StatusOr<ValidationOutcome> LocalPayloadValidator::check(std::string_view job_type,
                                                         std::string_view payload) {
  const auto plugin = plugins_.find(job_type);
  if (!plugin) return not_found("unknown job type \"" + std::string(job_type) + "\"");
  return plugin->check(payload);
}

}  // namespace dtq::host
