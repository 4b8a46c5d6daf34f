# Test plugins and the out-of-tree plugin check.
#
# The plugins are loadable modules built into one fixed place, so that any test finds them as
#   ${LOOM_BINARY_DIR}/tests/plugins/lib<name>.so
#   good_plugin              test_faulty and test_record, stage types for runtime tests
#   wrong_abi_plugin         exports the next plugin ABI version
#   no_register_plugin       exports the version but no loom_plugin_register
#   no_version_plugin        exports loom_plugin_register but no version
#   failing_register_plugin  registers a type, then throws
#   loom_scale               examples/plugin/scale.cpp, built in tree for its unit test
set(LOOM_TEST_PLUGINS good_plugin wrong_abi_plugin no_register_plugin no_version_plugin
                      failing_register_plugin)
foreach(plugin ${LOOM_TEST_PLUGINS})
  add_library(${plugin} MODULE ${CMAKE_CURRENT_LIST_DIR}/${plugin}.cpp)
endforeach()
add_library(example_scale_plugin MODULE ${PROJECT_SOURCE_DIR}/examples/plugin/scale.cpp)
set_target_properties(example_scale_plugin PROPERTIES OUTPUT_NAME loom_scale)
list(APPEND LOOM_TEST_PLUGINS example_scale_plugin)

foreach(plugin ${LOOM_TEST_PLUGINS})
  target_link_libraries(${plugin} PRIVATE loom)
  target_compile_options(${plugin} PRIVATE -Wall -Wextra)
  set_target_properties(${plugin} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/plugins)
endforeach()

# Building one test target alone (`cmake --build build --target test_x`) builds the plugins too.
foreach(source ${LOOM_TEST_SOURCES})
  get_filename_component(name ${source} NAME_WE)
  add_dependencies(${name} ${LOOM_TEST_PLUGINS})
endforeach()

# Installs this build into a temporary prefix, builds examples/plugin against it and runs the
# example graph with the installed `loom`.
add_test(NAME plugin_out_of_tree
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/out_of_tree.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR}/examples/plugin)
set_tests_properties(plugin_out_of_tree PROPERTIES TIMEOUT 300
                     ENVIRONMENT CMAKE=${CMAKE_COMMAND})
