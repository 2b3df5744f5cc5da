/*
 * The AWS region a cloud plugin (bedrock, polly, s3) signs for: its own
 * `region` setting, else the core's choice (AWS_REGION, AWS_DEFAULT_REGION,
 * the profile's region, eu-west-3); and the check of those settings.
 * Static functions, like prompt_file.h.
 */
#ifndef VG_PLUGINS_AWS_REGION_H
#define VG_PLUGINS_AWS_REGION_H

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vidgen/plugin.h>

/* 1 for a plausible region name ("eu-west-3"): a-z 0-9 -, at most 32. */
static int aws_region_valid(const char *r)
{
	if (!r || !*r || strlen(r) > 32)
		return 0;
	for (; *r; r++)
		if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
			return 0;
	return 1;
}

/* Checks a cloud plugin's `region` setting and, unless NULL (the plugin
 * checks its own), its `endpoint`; "" is the default for both. VG_EINVAL
 * with the reason in err. */
static int aws_settings_check(const char *region, const char *endpoint, char *err,
			      size_t errlen)
{
	if (*region && !aws_region_valid(region)) {
		snprintf(err, errlen, "region: \"%s\" is not an AWS region name", region);
		return VG_EINVAL;
	}
	if (endpoint && *endpoint && strncmp(endpoint, "https://", 8) &&
	    strncmp(endpoint, "http://", 7)) {
		snprintf(err, errlen, "endpoint: must start with https:// or http://");
		return VG_EINVAL;
	}
	return VG_OK;
}

static void aws_region_pick(const vg_stage *st, const char *setting, char *out, size_t n)
{
	const char *r = setting;

	if (r && *r) {
		snprintf(out, n, "%s", r);
		return;
	}
	if (st->svc->struct_size > offsetof(vg_services, aws_region) && st->svc->aws_region) {
		st->svc->aws_region(st, out, n);
		if (aws_region_valid(out))
			return;
	}
	/* A core before ABI 1.1: the environment only. */
	r = getenv("AWS_REGION");
	if (!r || !*r)
		r = getenv("AWS_DEFAULT_REGION");
	snprintf(out, n, "%s", aws_region_valid(r) ? r : "eu-west-3");
}

#endif
