// run_on_reactor(): has a Pistache reactor thread run a task. Pistache
// 0.0.5 writes a connection safely only from the reactor that owns it
// (pistache#1006), and offers no way to post work to a reactor but its
// timers: so the task rides on a one-millisecond timer armed on the
// connection's transport. Used by the SSE hub for every stream write, and
// by the REST handler to go on reading a connection once an answer sent
// from another thread is out.
//
// Thread-safety: callable from any thread. Ownership: the transport must
// outlive the timer (it does while its endpoint runs).
#pragma once

#include <pistache/transport.h>

#include <functional>

namespace dtq::api {

// Runs `task` on `transport`'s reactor about a millisecond from now, or
// `failed` (on either thread) when no timer could be armed.
void run_on_reactor(Pistache::Tcp::Transport& transport, std::function<void()> task,
                    std::function<void()> failed);

}  // namespace dtq::api
