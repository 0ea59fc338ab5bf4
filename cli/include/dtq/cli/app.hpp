// The dtq command line. run() parses argv, runs one sub-command and returns
// the process exit code: 0 success, 1 the operation failed, 2 bad usage or
// input. Not thread-safe: call once from main.
#pragma once

namespace dtq::cli {

int run(int argc, char** argv);

}  // namespace dtq::cli
