# dtq_add_plugin(<target> SOURCES <src>... [OUTPUT_DIRECTORY <dir>])
#
# Declares a dtq job plugin: a MODULE library named <target>.so (no "lib"
# prefix) that exports only dtq_plugin_get_descriptor. Hidden visibility keeps
# the plugin's own symbols (and those of static libraries it links) from
# clashing with the host's or another plugin's; -z defs makes a missing symbol
# a link error instead of a load-time surprise.
function(dtq_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
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
endfunction()
