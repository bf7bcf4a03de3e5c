# Persistence, machine history and access control (store.c, persist.c, auth.c) as a library of their own, so the unit tests,
# bench/store_bench and vmsimd link the same code. Included from server/CMakeLists.txt and from
# tests/store/CMakeLists.txt; whichever comes first defines the targets.
if(NOT TARGET vmsim_store)
  pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
  pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
  pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
  pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
  find_package(Threads REQUIRED)
  add_library(vmsim_store STATIC ${CMAKE_CURRENT_LIST_DIR}/store.c ${CMAKE_CURRENT_LIST_DIR}/auth.c
    ${CMAKE_CURRENT_LIST_DIR}/persist.c)
  target_include_directories(vmsim_store PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(vmsim_store PUBLIC vmsim_core PkgConfig::SQLITE3 PkgConfig::LIBUV PkgConfig::LIBCRYPTO
    PkgConfig::ZLIB Threads::Threads)

  # bench/store_bench: group-commit throughput and recovery read time (prints figures).
  add_executable(store_bench ${CMAKE_SOURCE_DIR}/bench/store_bench.c)
  target_link_libraries(store_bench PRIVATE vmsim_store vmsim_core)
  set_target_properties(store_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()
