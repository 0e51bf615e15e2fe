# glassbox.pc (lib/pkgconfig): the same contract as the CMake package. Cflags carry the
# public definitions and OpenMP; Libs OpenMP and threads; Libs.private the libraries a static
# libglassbox.a was linked with (full paths, as found at configure time). The prefix is taken
# from the .pc file's own place, so `cmake --install --prefix DIR` gives a working file.
file(RELATIVE_PATH glassbox_pc_to_prefix "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" glassbox_pc_to_prefix "${glassbox_pc_to_prefix}")

set(glassbox_pc_cflags "${OpenMP_CXX_FLAGS}")
if(glassbox_use_cuda)
  string(APPEND glassbox_pc_cflags " -DGLASSBOX_WITH_CUDA=1")
elseif(GLASSBOX_CUDA_EMU)
  string(APPEND glassbox_pc_cflags " -DGLASSBOX_WITH_CUDA=1 -DGLASSBOX_CUDA_EMU=1")
endif()
if(GLASSBOX_SANITIZE OR GLASSBOX_FUZZ)
  string(APPEND glassbox_pc_cflags " -DGLASSBOX_SANITIZED=1")
endif()
string(STRIP "${OpenMP_CXX_FLAGS} ${CMAKE_THREAD_LIBS_INIT}" glassbox_pc_libs)

set(glassbox_pc_private ${ZLIB_LIBRARIES} ${PNG_LIBRARIES} ${JPEG_LIBRARIES})
if(glassbox_use_cuda)
  list(APPEND glassbox_pc_private ${CUDA_cudart_LIBRARY} ${CUDA_cublas_LIBRARY})
endif()
list(REMOVE_DUPLICATES glassbox_pc_private)
if(glassbox_use_cuda)  # the CUDA libraries are rarely on the loader's default path
  list(APPEND glassbox_pc_private "-Wl,-rpath,${CUDAToolkit_LIBRARY_DIR}")
endif()
string(JOIN " " glassbox_pc_libs_private ${glassbox_pc_private})
if(GLASSBOX_SHARED)
  set(glassbox_pc_kind "shared library")
else()
  set(glassbox_pc_kind "static library")
endif()

configure_file(${CMAKE_CURRENT_LIST_DIR}/glassbox.pc.in ${CMAKE_CURRENT_BINARY_DIR}/glassbox.pc
               @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/glassbox.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
