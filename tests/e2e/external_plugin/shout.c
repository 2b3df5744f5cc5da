/* The example plugin of doc/plugins.md, built by tests/e2e/external_plugin.sh
 * as an outside author would: only <vidgen/plugin.h>, no vidgen build tree. */
#include <stdlib.h>
#include <string.h>

#include <vidgen/plugin.h>

typedef struct shout_conf { const char *suffix; } shout_conf;   /* filled from the settings */

static const vg_setting shout_settings[] = {
	VG_SETTING_STR("suffix", shout_conf, suffix, "!", "text added after the answer"),
	VG_SETTINGS_END
};

static int shout_run(void *inst, vg_stage *st)
{
	const shout_conf *s = inst;
	char *text = st->svc->render_template(st, "{{input}}");   /* first input's text */
	int rc;

	if (!text)
		return VG_ENOMEM;
	/* ... make the answer ... */
	rc = st->svc->output_write(st, "text", "output.txt", text, strlen(text));
	st->svc->log(st, VG_LOG_INFO, "answered with suffix %s", s->suffix);
	free(text);
	return rc;
}

VG_PLUGIN_EXPORT const vg_plugin vidgen_plugin = {
	VG_PLUGIN_HEADER,                 /* ABI version and struct size */
	.name = "shout", .kind = "model", .version = "1.0.0",
	.description = "repeats its input",
	.settings = shout_settings, .instance_size = sizeof(shout_conf),
	.run = shout_run,
};
