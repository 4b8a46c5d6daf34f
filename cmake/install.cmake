# Installation: libloom, its headers (each folder's CMakeLists installs its own), the `loom`
# command, and a CMake package so that plugins build out of tree with
#
#   find_package(loom REQUIRED)
#   target_link_libraries(my_plugin PRIVATE loom::loom)
include(CMakePackageConfigHelpers)

set(LOOM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/loom)

# The installed headers are written in the project's C++ standard, so consumers need it too.
target_compile_features(loom PUBLIC cxx_std_20)

install(TARGETS loom EXPORT loomTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

if(TARGET loom_cli)
  # The installed command finds the libloom installed beside it, wherever the prefix is moved.
  set_target_properties(loom_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  install(TARGETS loom_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT loomTargets NAMESPACE loom:: DESTINATION ${LOOM_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/loomConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/loomConfig.cmake
                              INSTALL_DESTINATION ${LOOM_INSTALL_CMAKEDIR})
# Before 1.0 a minor version may change the stage API, so only the same minor version matches;
# plugins are additionally checked against the plugin ABI version when they load.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/loomConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/loomConfig.cmake ${PROJECT_BINARY_DIR}/loomConfigVersion.cmake
        DESTINATION ${LOOM_INSTALL_CMAKEDIR})
