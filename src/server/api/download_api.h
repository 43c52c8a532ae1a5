/* The admin API's download routes (download_api.c; manager/download.h does
 * the work). */
#ifndef LMX_SRV_API_DOWNLOAD_API_H
#define LMX_SRV_API_DOWNLOAD_API_H

#include "server/http/http.h"

lmx_handler_fn lmx_h_download_start, lmx_h_download_list, lmx_h_download_get, lmx_h_download_cancel;

#endif
