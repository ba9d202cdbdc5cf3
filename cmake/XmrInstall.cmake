# cmake --install: headers, libxmr.so, the xmr::xmr CMake package and xmr.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS xmr EXPORT xmrTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/host_api/include/xmr DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET xmr_cli)
  install(TARGETS xmr_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(XMR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/xmr)
install(EXPORT xmrTargets NAMESPACE xmr:: DESTINATION ${XMR_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/xmrConfig.cmake.in
  ${PROJECT_BINARY_DIR}/xmrConfig.cmake INSTALL_DESTINATION ${XMR_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/xmrConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/xmrConfig.cmake ${PROJECT_BINARY_DIR}/xmrConfigVersion.cmake
  DESTINATION ${XMR_CMAKE_DIR})

# The .pc file finds its prefix relative to itself, so the install tree is relocatable.
file(RELATIVE_PATH XMR_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${PROJECT_SOURCE_DIR}/cmake/xmr.pc.in ${PROJECT_BINARY_DIR}/xmr.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/xmr.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
