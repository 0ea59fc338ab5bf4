#include "dtq/cli/app.hpp"

int main(int argc, char** argv) {
  return dtq::cli::run(argc, argv);
}
