# test_client_example runs `loom run examples/client/graph.toml` and examples/client's
# loom_client against it: both must be built before the test.
if(TARGET test_client_example AND TARGET loom_client)
  target_compile_definitions(test_client_example PRIVATE
                             LOOM_CLIENT_EXECUTABLE="$<TARGET_FILE:loom_client>")
  add_dependencies(test_client_example loom_client loom_cli)
endif()
