# Device plugins for the device plugin loader's tests (test_device_plugin), and the built emu
# plugin for both device tests. The plugins are loadable modules built into one fixed place,
#   ${LOOM_BINARY_DIR}/tests/device_plugins/lib<name>.so
#   test_host_device    host memory behind every optional entry, with counters
#   wrong_abi_device    exports the next device plugin ABI version
#   no_version_device   exports loom_device_plugin_describe but no version
#   no_describe_device  exports the version but no loom_device_plugin_describe
#   null_alloc_device   a table whose required `alloc` is NULL
#   half_events_device  a table with three of the four event entries
#   half_host_memory_device  a table with alloc_host but no free_host
# Like real device plugins they do not link libloom; --no-undefined makes sure of it.
set(LOOM_TEST_DEVICE_PLUGINS test_host_device wrong_abi_device no_version_device
                             no_describe_device null_alloc_device half_events_device
                             half_host_memory_device)
foreach(plugin ${LOOM_TEST_DEVICE_PLUGINS})
  add_library(${plugin} MODULE ${CMAKE_CURRENT_LIST_DIR}/${plugin}.cpp)
  target_include_directories(${plugin} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${plugin} PRIVATE -Wall -Wextra)
  target_link_options(${plugin} PRIVATE -Wl,--no-undefined)
  set_target_properties(${plugin} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/device_plugins)
endforeach()

foreach(test test_device_plugin test_emu_device)
  if(TARGET ${test})
    target_compile_definitions(${test} PRIVATE
      LOOM_DEVICE_EMU_PATH="$<TARGET_FILE:loom_device_emu>")
    add_dependencies(${test} loom_device_emu)
  endif()
endforeach()
if(TARGET test_device_plugin)
  add_dependencies(test_device_plugin ${LOOM_TEST_DEVICE_PLUGINS})
endif()
