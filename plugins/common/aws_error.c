/*
 * aws_error_parse (aws_error.h): an AWS error answer's type and message,
 * from JSON (Bedrock, Polly) or XML (S3).
 */
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "vidgen/plugin.h"
#include "aws_error.h"

/* The text of the first <tag>...</tag> in an XML body into out ("" if
 * none), cut to fit. */
static void aws_error_xml_tag(const char *body, const char *tag, char *out, size_t outlen)
{
	char open[32], close[32];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	out[0] = '\0';
	if ((a = strstr(body, open)) && (b = strstr(a, close)))
		snprintf(out, outlen, "%.*s", (int)(b - a - (long)strlen(open)), a + strlen(open));
}

/* Fills type and msg from an error answer r whose body text is body (not
 * always r->body: a download keeps it in a file). JSON services (Bedrock,
 * Polly) name the type in the x-amzn-ErrorType header or the body's
 * __type ("ns#ThrottlingException:url" becomes "ThrottlingException") and
 * the text in "message" or "Message"; XML ones (S3) in <Code> and
 * <Message>. Both are cut to fit; type is "" and msg no_msg when the
 * answer has none. */
void aws_error_parse(const vg_http_response *r, const char *body, char *type,
		     size_t tlen, char *msg, size_t mlen, const char *no_msg)
{
	const char *t = NULL, *m = NULL, *p = body ? body + strspn(body, " \t\r\n") : "";
	char code[256] = "";
	json_t *j = NULL;

	for (size_t i = 0; r->headers && r->headers[i]; i++)
		if (strncmp(r->headers[i], "x-amzn-errortype: ", 18) == 0)
			t = r->headers[i] + 18;
	msg[0] = '\0';
	if (*p == '<') {
		aws_error_xml_tag(p, "Code", code, sizeof(code));
		aws_error_xml_tag(p, "Message", msg, mlen);
		if (!t)
			t = code;
	} else if (*p && (j = json_loads(p, 0, NULL))) {
		m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "Message"));
		if (!t)
			t = json_string_value(json_object_get(j, "__type"));
		snprintf(msg, mlen, "%s", m ? m : "");
	}
	if (!t)
		t = "";
	if (strrchr(t, '#'))
		t = strrchr(t, '#') + 1;
	snprintf(type, tlen, "%.*s", (int)strcspn(t, ":"), t);
	if (!*msg)
		snprintf(msg, mlen, "%s", no_msg);
	json_decref(j);
}
