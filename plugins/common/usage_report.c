/*
 * Usage reports (usage_report.h).
 */
#include <math.h>

#include "usage_report.h"

#define USAGE_REPORT_MAX 1e12

void usage_report(const vg_stage *st, const char *name, double value)
{
	if (VG_HAS(st->svc, vg_services, usage) && st->svc->usage)
		st->svc->usage(st, name, value);
}

double usage_report_json(const vg_stage *st, const char *name, const json_t *v,
			 const char *where)
{
	double d;

	if (!v)
		return -1;
	d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ?
		json_real_value(v) : -1;
	if (!json_is_number(v) || !isfinite(d) || d < 0 || d > USAGE_REPORT_MAX || d != floor(d)) {
		st->svc->log(st, VG_LOG_WARN, "%s: ignored %s: not a count from 0 to 1e12", where,
			     name);
		return -1;
	}
	usage_report(st, name, d);
	return d;
}

size_t usage_characters(const char *text)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}
