/*
 * The AWS region a cloud plugin (bedrock, polly, s3) signs for: its own
 * `region` setting, else the core's choice (AWS_REGION, AWS_DEFAULT_REGION,
 * the profile's region, eu-west-3); and the check of those settings.
 */
#ifndef VG_PLUGINS_AWS_REGION_H
#define VG_PLUGINS_AWS_REGION_H

#include "vidgen/plugin.h"

/* 1 for a plausible region name ("eu-west-3"): a-z 0-9 -, at most 32. */
int aws_region_valid(const char *r);

/* Checks a cloud plugin's `region` setting and, unless NULL (the plugin
 * checks its own), its `endpoint` (url.h's rule); "" is the default for
 * both. VG_EINVAL with the reason in err. */
int aws_settings_check(const char *region, const char *endpoint, char *err, size_t errlen);

/* The region to sign for into out: the setting when set, else svc->aws_region. */
void aws_region_pick(const vg_stage *st, const char *setting, char *out, size_t n);

#endif
