/*
 * Loads vgcloud.so on first use (see cloud.h). The handle stays open for
 * the life of the process: threads may be inside its functions any time.
 */
#include "cloud.h"
#include "log.h"
#include "util.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t cloud_once = PTHREAD_ONCE_INIT;
static const cloud_api *cloud_table;
static char cloud_error[1024];

static void *try_open(const char *path, strbuf *why)
{
	void *h;

	if (access(path, R_OK) != 0) {
		sb_printf(why, "%s%s: not found", why->len ? "; " : "", path);
		return NULL;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		sb_printf(why, "%s%s: %s", why->len ? "; " : "", path, dlerror());
	return h;
}

static void cloud_load(void)
{
	const char *env = getenv("VIDGEN_CLOUD_MODULE");
	char *exe = util_exe_dir(), *cand;
	strbuf why = { 0 };
	void *h = NULL;
	const cloud_api *t;

	if (env && env[0])
		h = try_open(env, &why);
	if (!h && exe) {
		cand = util_path_join(exe, ".libs/vgcloud.so");
		h = try_open(cand, &why);
		free(cand);
	}
	free(exe);
	if (!h)
		h = try_open(VG_PKGLIBDIR "/vgcloud.so", &why);
	if (!h) {
		snprintf(cloud_error, sizeof(cloud_error), "cloud support (vgcloud.so) cannot be "
			 "loaded: %s", why.buf ? why.buf : "?");
		goto out;
	}
	t = dlsym(h, CLOUD_API_SYMBOL);
	if (!t || t->struct_size < sizeof(cloud_api)) {
		snprintf(cloud_error, sizeof(cloud_error), "vgcloud.so has no usable %s",
			 CLOUD_API_SYMBOL);
		goto out;
	}
	t->set_log_level(log_get_level());
	cloud_table = t;
out:
	sb_free(&why);
}

const cloud_api *cloud_get(char *err, size_t errlen)
{
	pthread_once(&cloud_once, cloud_load);
	if (!cloud_table)
		util_errf(err, errlen, "%s", cloud_error);
	return cloud_table;
}
