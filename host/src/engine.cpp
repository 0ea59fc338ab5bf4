#include "dtq/host/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace dtq::host {

StatusOr<std::unique_ptr<Engine>> Engine::create(const PluginRegistry& plugins,
                                                 const EngineSettings& settings,
                                                 EnginePorts backends, const HttpClient& http) {
  for (const auto& type : settings.only) {
    if (plugins.find(type) == nullptr) {
      return not_found("--only " + type + ": no loaded plugin provides job type \"" + type + "\"");
    }
  }
  std::unique_ptr<Engine> engine(new Engine(settings, backends, http));
  {
    // Not shared yet; locked all the same so that pools_ has one rule.
    MutexLock lock(engine->pools_mutex_);
    for (const auto& plugin : plugins.list()) {
      const PluginInfo& info = plugin->info();
      if (!settings.only.empty() && settings.only.count(info.job_type) == 0) continue;
      engine->pools_.push_back(engine->make_pool(plugin));
    }
  }
  return engine;
}

std::unique_ptr<WorkerPool> Engine::make_pool(std::shared_ptr<Plugin> plugin) const {
  const PluginInfo& info = plugin->info();
  PluginSettings overrides;
  if (auto it = settings_.per_plugin.find(info.job_type); it != settings_.per_plugin.end()) {
    overrides = it->second;
  } else if (auto from_env = plugin_settings_from_env(info.job_type); from_env.ok()) {
    // A plugin dropped in after start-up: its environment overrides apply
    // as they would have at start-up.
    overrides = *from_env;
  }
  PoolSettings pool = resolve_pool_settings(info, overrides);
  if (settings_.backoff_base) pool.backoff_base = *settings_.backoff_base;
  if (settings_.cancel_grace) pool.cancel_grace = *settings_.cancel_grace;
  return std::make_unique<WorkerPool>(std::move(plugin), pool, backends_, http_,
                                      outbound_policy(info, overrides));
}

Status Engine::add_plugin(std::shared_ptr<Plugin> plugin) {
  const std::string type = plugin->info().job_type;
  if (!settings_.only.empty() && settings_.only.count(type) == 0) {
    return failed_precondition("job type \"" + type + "\" is not one this engine runs (--only)");
  }
  std::unique_ptr<WorkerPool> pool = make_pool(std::move(plugin));
  MutexLock lock(pools_mutex_);
  if (drained_) return failed_precondition("the engine has drained");
  for (const auto& existing : pools_) {
    if (existing->plugin().info().job_type == type)
      return already_exists("job type \"" + type + "\" is hosted already");
  }
  if (paused_.contains(type)) pool->set_paused(true);  // not started: returns at once
  if (taking_work_) {
    const auto& s = pool->settings();
    spdlog::info("pool job_type={} concurrency={} timeout_ms={} max_attempts={} (added)", type,
                 s.concurrency, s.timeout.count(), s.max_attempts);
    pool->start();
  }
  pools_.push_back(std::move(pool));
  return {};
}

StatusOr<Engine::Pools::iterator> Engine::pool_for(std::string_view job_type) {
  auto it = std::find_if(pools_.begin(), pools_.end(),
                         [&](const auto& p) { return p->plugin().info().job_type == job_type; });
  if (it == pools_.end()) {
    return not_found("no pool hosts job type \"" + std::string(job_type) + "\"");
  }
  return it;
}

Status Engine::remove_plugin(std::string_view job_type) {
  WorkerPool* pool = nullptr;
  {
    MutexLock lock(pools_mutex_);
    auto it = pool_for(job_type);
    if (!it.ok()) return it.status();
    pool = (*it)->get();
    retired_.push_back(std::move(**it));
    pools_.erase(*it);
  }
  pool->stop_taking();
  pool->drain(std::chrono::steady_clock::now() + settings_.drain_grace);
  spdlog::info("pool job_type={} stopped", job_type);
  return {};
}

Status Engine::set_paused(std::string_view job_type, bool paused) {
  MutexLock pausing(pausing_mutex_);
  WorkerPool* pool = nullptr;
  {
    MutexLock lock(pools_mutex_);
    auto it = pool_for(job_type);
    if (!it.ok()) return it.status();
    pool = (*it)->get();
    if (paused) {
      paused_.emplace(job_type);
    } else if (auto found = paused_.find(job_type); found != paused_.end()) {
      paused_.erase(found);
    }
  }
  // Outside the lock: a pause waits for takes in progress (up to their
  // wait), and listing must not. A pool removed meanwhile is retired, not
  // destroyed, so the pointer stays valid.
  // Logged on a change only: a distributed worker is told at every heartbeat.
  const bool changed = pool->paused() != paused;
  pool->set_paused(paused);
  if (changed) spdlog::info("pool job_type={} {}", job_type, paused ? "paused" : "resumed");
  return {};
}

Engine::~Engine() {
  drain();
}

void Engine::start() {
  MutexLock lock(pools_mutex_);
  for (auto& pool : pools_) {
    const auto& s = pool->settings();
    spdlog::info("pool job_type={} concurrency={} timeout_ms={} max_attempts={}",
                 pool->plugin().info().job_type, s.concurrency, s.timeout.count(), s.max_attempts);
    pool->start();
  }
  taking_work_ = true;
}

void Engine::drain() {
  std::vector<WorkerPool*> pools;
  {
    MutexLock lock(pools_mutex_);
    if (drained_) return;
    drained_ = true;
    taking_work_ = false;
    for (auto& pool : pools_) pools.push_back(pool.get());
  }
  const auto deadline = std::chrono::steady_clock::now() + settings_.drain_grace;
  for (auto* pool : pools) pool->stop_taking();
  backends_.queue.close();
  for (auto* pool : pools) pool->drain(deadline);
}

std::map<std::string, PoolStats> Engine::stats() const {
  MutexLock lock(pools_mutex_);
  std::map<std::string, PoolStats> out;
  for (const auto& pool : pools_) out.emplace(pool->plugin().info().job_type, pool->stats());
  return out;
}

std::vector<const WorkerPool*> Engine::pools() const {
  MutexLock lock(pools_mutex_);
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
    type.paused = pool->paused();
    types.push_back(std::move(type));
  }
  std::sort(types.begin(), types.end(),
            [](const auto& a, const auto& b) { return a.job_type < b.job_type; });
  return types;
}

Status EngineJobTypeRegistry::set_paused(std::string_view job_type, bool paused) {
  return engine_.set_paused(job_type, paused);
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

std::vector<StatusOr<ValidationOutcome>> LocalPayloadValidator::check_batch(
    std::string_view job_type, std::span<const std::string_view> payloads) {
  const auto plugin = plugins_.find(job_type);
  if (!plugin) {
    return std::vector<StatusOr<ValidationOutcome>>(
        payloads.size(), not_found("unknown job type \"" + std::string(job_type) + "\""));
  }
  return plugin->check_batch(payloads);
}

}  // namespace dtq::host
