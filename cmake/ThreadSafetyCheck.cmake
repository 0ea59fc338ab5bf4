# The locking rules, checked: clang's -Wthread-safety over every product
# source (scripts/check-thread-safety.py, the annotations in
# core/include/dtq/core/thread_annotations.hpp), as ctest label threadsafety.
# The project builds with GCC; clang only parses (-fsyntax-only), with the
# flags from this build's compile_commands.json.

# Not REQUIRED: `make run` installs only the build packages, and must still
# configure. Without clang the test fails and says how to install it.
find_program(DTQ_CLANGXX NAMES clang++-14 clang++)
if(NOT DTQ_CLANGXX)
  set(DTQ_CLANGXX clang++-14)
endif()
find_package(Python3 REQUIRED COMPONENTS Interpreter)

set(_dtq_tsa_check ${PROJECT_SOURCE_DIR}/scripts/check-thread-safety.py)
set(_dtq_tsa_args ${DTQ_CLANGXX} ${PROJECT_BINARY_DIR}/compile_commands.json ${PROJECT_SOURCE_DIR})

# The script runs a clang per core; PROCESSORS 2 lets ctest -j2 count it so.
add_test(NAME thread_safety COMMAND Python3::Interpreter ${_dtq_tsa_check} ${_dtq_tsa_args})
set_tests_properties(thread_safety PROPERTIES LABELS threadsafety PROCESSORS 2 TIMEOUT 900)

# The check can fail: a fixture that writes a guarded member unlocked must
# be refused with a thread-safety error.
add_test(NAME thread_safety_selftest
         COMMAND Python3::Interpreter ${_dtq_tsa_check} ${_dtq_tsa_args}
                 --expect-violation ${PROJECT_SOURCE_DIR}/tests/thread_safety/unguarded_write.cpp)
set_tests_properties(thread_safety_selftest PROPERTIES LABELS threadsafety TIMEOUT 60)
