#include "dtq/host/plugin_runner.hpp"

int main(int argc, char** argv) {
  return dtq::host::run_plugin_runner(argc, argv);
}
