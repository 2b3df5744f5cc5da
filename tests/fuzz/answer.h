/*
 * Shared by the harnesses that fuzz how a plugin reads an upstream's answer
 * (fuzz_bedrock.c, fuzz_openai.c, fuzz_polly.c, fuzz_s3.c). Included after
 * the plugin's source and svc_mock.h. One input is one HTTP answer: the
 * first byte picks the status, the second the Content-Type, the rest is the
 * body; the services mock (tests/unit/svc_mock.c) gives it to every request
 * the plugin's run makes. Any status the plugin returns is fine; a crash,
 * a sanitizer report or a hang is not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const long answer_status[] = { 200, 200, 200, 200, 206, 301, 400, 403, 404,
				      413, 429, 500, 503 };
static const char *const answer_type[] = {
	"content-type: application/json", "content-type: application/json; charset=utf-8",
	"content-type: audio/mpeg", "content-type: application/xml",
	"content-type: text/html", NULL,
};

/* Fills the mock with the input's answer; returns the body (free it), or
 * NULL when the input is too short. */
static char *answer_from_input(const uint8_t *data, size_t size)
{
	if (size < 2)
		return NULL;
	mock_reset();
	size_t len = size - 2;
	char *body = malloc(len + 1);
	if (body == NULL)
		return NULL;
	memcpy(body, data + 2, len);
	body[len] = '\0';
	for (int i = 0; i < MOCK_MAX; i++) {
		mock_answer *a = &mock.answers[i];
		memset(a, 0, sizeof(*a));
		a->status = answer_status[data[0] % (sizeof answer_status / sizeof *answer_status)];
		a->body = body;
		a->body_len = len;
		a->headers[0] = answer_type[data[1] % (sizeof answer_type / sizeof *answer_type)];
		a->rc = VG_OK;
	}
	mock.n_answers = MOCK_MAX;
	return body;
}

/* A prompt file for the model plugins, made once. */
static const char *answer_prompt(void)
{
	static char path[] = "/tmp/vg_fuzz_prompt.XXXXXX";
	static int made;
	if (!made) {
		int fd = mkstemp(path);
		if (fd < 0 || write(fd, "[system]\nEdit.\n[user]\n{{input}}\n", 32) != 32)
			abort();
		close(fd);
		made = 1;
	}
	return path;
}

/* Defines answer_defaults(): the plugin's table defaults as a TYPE, filled
 * once (the mock keeps only a few instances). */
#define ANSWER_DEFAULTS(TYPE)                                   \
	static const TYPE *answer_defaults(void)                \
	{                                                       \
		static TYPE d;                                  \
		static int filled;                              \
		if (!filled) {                                  \
			mock_defaults(&vidgen_plugin, &d);      \
			filled = 1;                             \
		}                                               \
		return &d;                                      \
	}
