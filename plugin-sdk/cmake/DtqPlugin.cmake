# dtq_add_plugin(<target> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_CHECK])
#
# Declares a dtq job plugin: a MODULE library named <target>.so (no "lib"
# prefix) that exports only dtq_plugin_get_descriptor. Hidden visibility keeps
# the plugin's own symbols (and those of static libraries it links) from
# clashing with the host's or another plugin's; -z defs makes a missing symbol
# a link error instead of a load-time surprise.
#
# After linking, the host's own loader checks the library (`dtq plugin check`),
# so that a plugin the host would refuse (a bad descriptor, ABI version, job
# type, schema, ...) fails the build with the loader's message rather than at
# a worker's start-up. The checker is the first of:
#  - DTQ_PLUGIN_CHECKER, when set: the path of a dtq executable;
#  - in the dtq source tree, the `dtq` target (built first);
#  - out of tree, a `dtq` on PATH (found once, cached in DTQ_PLUGIN_CHECKER).
# With none, the plugin is not checked (a note at configure time says so).
# NO_CHECK skips it for one plugin: the loader's own test fixtures, which are
# broken on purpose.
function(dtq_add_plugin target)
  cmake_parse_arguments(ARG "NO_CHECK" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "dtq_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE dtq::plugin_sdk)
  target_compile_features(${target} PRIVATE cxx_std_20)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE -Wl,-z,defs)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  if(NOT ARG_NO_CHECK)
    _dtq_plugin_check(${target})
  endif()
endfunction()

# The POST_BUILD check of dtq_add_plugin. In the dtq tree the SDK target is
# a real one (out of tree it is imported), and `dtq` may be declared after
# the plugins: both the command and the dependency name it by target, which
# CMake resolves once every directory is read.
function(_dtq_plugin_check target)
  if(DTQ_PLUGIN_CHECKER)
    set(checker ${DTQ_PLUGIN_CHECKER})
  elseif(TARGET dtq_plugin_sdk)
    set(checker $<TARGET_FILE:dtq>)
    add_dependencies(${target} dtq)
  else()
    find_program(DTQ_PLUGIN_CHECKER dtq DOC "dtq executable that checks each plugin after linking")
    if(NOT DTQ_PLUGIN_CHECKER)
      get_property(noted GLOBAL PROPERTY _DTQ_PLUGIN_CHECK_NOTED)
      if(NOT noted)
        message(STATUS "dtq_add_plugin: no dtq on PATH and DTQ_PLUGIN_CHECKER unset: "
                       "plugins are not checked with `dtq plugin check` after linking")
        set_property(GLOBAL PROPERTY _DTQ_PLUGIN_CHECK_NOTED TRUE)
      endif()
      return()
    endif()
    set(checker ${DTQ_PLUGIN_CHECKER})
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${checker} plugin check $<TARGET_FILE:${target}>
    COMMENT "Checking ${target} as the dtq host would load it (dtq plugin check)"
    VERBATIM)
endfunction()
