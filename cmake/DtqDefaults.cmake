# Compiler settings for the project's own targets. Third-party headers come in
# as SYSTEM includes, so -Werror judges only code we wrote.

if(NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(DTQ_CCACHE ccache)
  if(DTQ_CCACHE)
    set(CMAKE_C_COMPILER_LAUNCHER ${DTQ_CCACHE})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${DTQ_CCACHE})
  endif()
endif()

set(DTQ_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
    # Designated initializers that leave defaulted members out are the point.
    -Wno-missing-field-initializers)
option(DTQ_WERROR "Treat warnings as errors on the project's own code" ON)

# dtq_target_defaults(<target>): warnings (as errors) and hidden visibility.
function(dtq_target_defaults target)
  target_compile_options(${target} PRIVATE ${DTQ_WARNINGS})
  if(DTQ_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
