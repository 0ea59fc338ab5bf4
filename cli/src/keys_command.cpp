// `dtq keys create|list|revoke`: the API keys (docs/security.md). Without
// --redis they are `dtq serve`'s, in the data folder; with --redis URL (or
// $DTQ_REDIS_URL) they are the ones every `dtq api` replica reads. A new
// key is printed once, on stdout, and kept nowhere: only its hash is
// stored. A running server sees a change at its next request.
#include <iomanip>
#include <iostream>

#include "api_wiring.hpp"
#include "commands.hpp"
#include "dtq/core/api_keys.hpp"
#include "dtq/embedded/file_api_key_store.hpp"
#include "dtq/redis/redis_api_key_store.hpp"
#include "dtq/redis/redis_uri.hpp"

namespace dtq::cli {
namespace {

struct KeysOptions {
  std::string redis;  // empty: $DTQ_REDIS_URL, else the data folder
  std::string name;
  std::string scope = "read";
  bool replace = false;  // create: revoke the other live keys of the same name
  std::string id;        // revoke
};

StatusOr<std::unique_ptr<ApiKeyStore>> open_store(const CommonOptions& common,
                                                  const KeysOptions& options) {
  std::string redis_uri = options.redis;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  if (const char* env = std::getenv("DTQ_REDIS_URL"); redis_uri.empty() && env != nullptr)
    redis_uri = env;
  if (redis_uri.empty()) {
    const auto data_dir = resolve_data_dir(common);
    std::error_code error;
    std::filesystem::create_directories(data_dir, error);
    return std::unique_ptr<ApiKeyStore>(
        std::make_unique<embedded::FileApiKeyStore>(api_keys_file(data_dir)));
  }
  auto settings = redis::parse_uri(redis_uri);
  if (!settings.ok()) return settings.status();
  auto store = redis::RedisApiKeyStore::connect(std::move(settings).value());
  if (!store.ok()) return store.status();
  return std::unique_ptr<ApiKeyStore>(std::move(store).value());
}

int fail(const Status& status) {
  std::cerr << "dtq keys: " << status.message() << "\n";
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

int create(ApiKeyStore& store, const KeysOptions& options) {
  const auto scope = parse_scope(options.scope);
  if (!scope) return fail(invalid_argument("--scope is read, submit or admin"));
  auto made = new_api_key(options.name, *scope);
  if (!made.ok()) return fail(made.status());
  if (Status added = store.add(made->record); !added.ok()) return fail(added);
  if (options.replace) {
    auto listed = store.list();
    if (!listed.ok()) return fail(listed.status());
    for (const auto& record : *listed) {
      if (record.name != options.name || record.revoked || record.id == made->record.id) continue;
      if (Status revoked = store.revoke(record.id); !revoked.ok()) return fail(revoked);
    }
  }
  std::cerr << "dtq keys: made key " << made->record.id << " (" << options.scope
            << "); it is shown once, here:\n";
  std::cout << made->key << std::endl;
  return 0;
}

int list(ApiKeyStore& store) {
  auto listed = store.list();
  if (!listed.ok()) return fail(listed.status());
  std::cout << std::left << std::setw(18) << "ID" << std::setw(8) << "SCOPE" << std::setw(9)
            << "STATE" << std::setw(22) << "CREATED"
            << "NAME\n";
  for (const auto& record : *listed) {
    std::cout << std::setw(18) << record.id << std::setw(8) << to_string(record.scope)
              << std::setw(9) << (record.revoked ? "revoked" : "live") << std::setw(22)
              << record.created_at << record.name << "\n";
  }
  return 0;
}

int revoke(ApiKeyStore& store, const KeysOptions& options) {
  if (Status revoked = store.revoke(options.id); !revoked.ok()) return fail(revoked);
  std::cerr << "dtq keys: revoked " << options.id << "\n";
  return 0;
}

// Opens the store, then runs `verb` on it.
template <class Verb>
void run_with_store(const CommonOptions& common, const KeysOptions& options, int& exit_code,
                    Verb verb) {
  auto store = open_store(common, options);
  exit_code = store.ok() ? verb(**store) : fail(store.status());
}

}  // namespace

void add_keys_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto options = std::make_shared<KeysOptions>();
  auto* keys = app.add_subcommand("keys", "Create, list and revoke API keys");
  keys->require_subcommand(1);
  keys->add_option("--redis", options->redis,
                   "The keys of `dtq api`, in this Redis (default: $DTQ_REDIS_URL, else the data "
                   "folder's keys, those of `dtq serve`)");

  auto* make = keys->add_subcommand("create", "Make a key and print it, once");
  make->add_option("--name", options->name, "What the key is for")->required();
  make->add_option("--scope", options->scope, "read, submit (and read) or admin (everything)")
      ->capture_default_str();
  make->add_flag("--replace", options->replace, "Revoke the other live keys of this name");
  make->callback([&common, &exit_code, options] {
    run_with_store(common, *options, exit_code,
                   [&](ApiKeyStore& store) { return create(store, *options); });
  });

  keys->add_subcommand("list", "List the keys (ids, never the keys themselves)")
      ->callback([&common, &exit_code, options] {
        run_with_store(common, *options, exit_code, [](ApiKeyStore& store) { return list(store); });
      });

  auto* drop = keys->add_subcommand("revoke", "Revoke a key: refused from its next request");
  drop->add_option("ID", options->id, "The key's id (dtq keys list)")->required();
  drop->callback([&common, &exit_code, options] {
    run_with_store(common, *options, exit_code,
                   [&](ApiKeyStore& store) { return revoke(store, *options); });
  });
}

}  // namespace dtq::cli
