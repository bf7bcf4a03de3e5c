/* The dashboard's static files from cfg.web_dir: MIME types, ETag/304, no path traversal. */
#ifndef VMSIM_SRV_STATIC_H
#define VMSIM_SRV_STATIC_H

#include "http.h"

/* Serves rel (the URL path after "/" or "/static/", still percent-encoded). */
void static_serve(struct srv *s, struct srv_request *r, const char *rel);

#endif
