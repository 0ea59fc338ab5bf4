// The plugin runner: the process that hosts one plugin library on behalf of
// a supervisor (IsolatedPlugin, isolated_plugin.hpp), so that whatever the
// plugin does — crash, abort, exit, hang, hog memory — ends only this
// process. Binary `dtq-plugin-runner`; never started by hand.
//
// Before any plugin code runs, the runner confines itself: resource limits
// (address space, open files, CPU time; no core files), no network (a
// seccomp filter refuses socket(), and a network namespace of its own where
// the process may make one), then loads the library with the same loader
// and checks as an in-process host. It then serves the requests that come
// over the socket it inherited, many at once, each on a thread of its own:
// run a job, validate a payload. The plugin's
// host calls travel back over that socket: progress, logs and HTTP, which
// the supervisor makes under the plugin's allow-list.
//
//   dtq-plugin-runner --library FILE [--fd N] [--max-memory-mb N]
//                     [--max-open-files N] [--max-cpu-seconds N] [--network none|host]
//
// Thread-safety: run_plugin_runner() runs once per process, from main().
#pragma once

namespace dtq::host {

// Returns the process exit status: 0 when the supervisor closed the channel,
// 2 for bad arguments or a plugin the loader refused (after reporting why).
int run_plugin_runner(int argc, char** argv);

}  // namespace dtq::host
