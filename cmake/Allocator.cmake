# The malloc of the shipped `dtq` binary, and of the benchmarks that stand
# for it: jemalloc by default, the C library's with DTQ_ALLOCATOR=system
# (the sanitizer preset's: sanitizers bring their own). glibc's malloc cost
# the embedded engine 10-20 % of its CPU per job, in frees of blocks
# allocated by other threads and the consolidations they trigger; jemalloc
# costs an idle process about 1.3 MB more (docs/engine.md, Performance).
set(DTQ_ALLOCATOR "jemalloc" CACHE STRING "The malloc dtq links: jemalloc or system")
set_property(CACHE DTQ_ALLOCATOR PROPERTY STRINGS jemalloc system)
if(DTQ_ALLOCATOR STREQUAL "jemalloc")
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
elseif(NOT DTQ_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "DTQ_ALLOCATOR is jemalloc or system, not '${DTQ_ALLOCATOR}'")
endif()

# dtq_link_allocator(<executable>): links the chosen malloc into it.
function(dtq_link_allocator target)
  if(DTQ_ALLOCATOR STREQUAL "jemalloc")
    target_link_libraries(${target} PRIVATE PkgConfig::JEMALLOC)
  endif()
endfunction()
