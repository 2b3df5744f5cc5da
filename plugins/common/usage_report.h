/*
 * Usage reports every plugin makes the same way: svc->usage when the core
 * offers it (ABI 2.2), and counts read from an upstream answer, checked
 * before they are believed.
 */
#ifndef VG_PLUGINS_USAGE_REPORT_H
#define VG_PLUGINS_USAGE_REPORT_H

#include <jansson.h>
#include "vidgen/plugin.h"

/* Adds value to the stage's counter name; nothing on a core before 2.2. */
void usage_report(const vg_stage *st, const char *name, double value);

/* Reports counter name from an upstream JSON value v (NULL: absent, not
 * reported). A value that is not a whole number from 0 to 1e12 (a string,
 * a negative or fractional number, an absurd count) is left out with a
 * warning naming `where`. Returns the value reported, or -1. */
double usage_report_json(const vg_stage *st, const char *name, const json_t *v,
			 const char *where);

/* Code points in UTF-8 text: what TTS services bill as characters. */
size_t usage_characters(const char *text);

#endif
