# hiredis 1.2 with TLS (hiredis_ssl), built from source as a static library:
# Debian 12's libhiredis is 0.14, which has no TLS, and managed Redis (Azure
# Cache for Redis) accepts TLS only. The sources are those hiredis-py 3.0.0
# vendors (redis/hiredis v1.2.0, BSD-3-Clause), fetched from PyPI, which the
# build machines can reach, and checked against their SHA-256. The download
# is kept in the dtq cache ($DTQ_CACHE_DIR/downloads), so a new build folder
# does not fetch it again.
#
# Defines dtq::hiredis: <hiredis/hiredis.h> and <hiredis/hiredis_ssl.h>.
include(FetchContent)

if(DEFINED ENV{DTQ_CACHE_DIR} AND NOT "$ENV{DTQ_CACHE_DIR}" STREQUAL "")
  set(_dtq_downloads "$ENV{DTQ_CACHE_DIR}/downloads")
elseif(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
  set(_dtq_downloads "$ENV{XDG_CACHE_HOME}/dtq/downloads")
else()
  set(_dtq_downloads "$ENV{HOME}/.cache/dtq/downloads")
endif()

FetchContent_Declare(hiredis_sources
  URL https://files.pythonhosted.org/packages/8b/80/740fb0dfa7a42416ce8376490f41dcdb1e5deed9c3739dfe4200fad865a9/hiredis-3.0.0.tar.gz
  URL_HASH SHA256=fed8581ae26345dea1f1e0d1a96e05041a727a45e7d8d459164583e23c6ac441
  DOWNLOAD_DIR ${_dtq_downloads}
  DOWNLOAD_EXTRACT_TIMESTAMP ON)
FetchContent_Populate(hiredis_sources)

find_package(OpenSSL REQUIRED)
set(_hiredis ${hiredis_sources_SOURCE_DIR}/vendor/hiredis)
add_library(dtq_hiredis STATIC
  ${_hiredis}/alloc.c ${_hiredis}/async.c ${_hiredis}/hiredis.c ${_hiredis}/net.c
  ${_hiredis}/read.c ${_hiredis}/sds.c ${_hiredis}/sockcompat.c ${_hiredis}/ssl.c)
add_library(dtq::hiredis ALIAS dtq_hiredis)
# <hiredis/...> as the installed library spells it.
target_include_directories(dtq_hiredis SYSTEM PUBLIC ${hiredis_sources_SOURCE_DIR}/vendor)
target_compile_options(dtq_hiredis PRIVATE -w)
target_link_libraries(dtq_hiredis PUBLIC OpenSSL::SSL OpenSSL::Crypto)
