/*
 * The AWS region rules of the cloud plugins (aws_region.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "vidgen/plugin.h"
#include "aws_region.h"
#include "url.h"

int aws_region_valid(const char *r)
{
	if (!r || !*r || strlen(r) > 32)
		return 0;
	for (; *r; r++)
		if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
			return 0;
	return 1;
}

int aws_settings_check(const char *region, const char *endpoint, char *err, size_t errlen)
{
	if (*region && !aws_region_valid(region)) {
		snprintf(err, errlen, "region: \"%s\" is not an AWS region name", region);
		return VG_EINVAL;
	}
	if (endpoint && *endpoint && !url_base_valid(endpoint)) {
		snprintf(err, errlen, "endpoint: must be an http:// or https:// URL without "
			 "query");
		return VG_EINVAL;
	}
	return VG_OK;
}

void aws_region_pick(const vg_stage *st, const char *setting, char *out, size_t n)
{
	if (setting && *setting) {
		snprintf(out, n, "%s", setting);
		return;
	}
	st->svc->aws_region(st, out, n);
	if (!aws_region_valid(out))
		snprintf(out, n, "eu-west-3");
}
