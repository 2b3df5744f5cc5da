/*
 * AWS credential and region chain (environment, then the shared credentials
 * and config files of the AWS CLI), with a small INI reader for those files.
 * Secrets are wiped from memory when the caller is done with them.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "aws.h"
#include "util.h"

#define AWS_INI_MAX (1024 * 1024)

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static const char *profile_name(void)
{
	const char *p = env_nonempty("AWS_PROFILE");
	if (!p)
		p = env_nonempty("AWS_DEFAULT_PROFILE");
	return p ? p : "default";
}

/* Returns a malloc'd path: the variable's value, else ~/.aws/<file>. */
static char *aws_file(const char *var, const char *file)
{
	const char *v = env_nonempty(var), *home = env_nonempty("HOME");
	strbuf sb = { 0 };

	if (v)
		return xstrdup(v);
	if (!home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	sb_printf(&sb, "%s/.aws/%s", home, file);
	return sb_steal(&sb);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Finds `key` in section `section` of INI text; returns a malloc'd value
 * or NULL. Indented lines (nested settings such as `s3 =\n  x = y`) are
 * skipped, as the CLI reads them as part of the key above. */
static char *ini_get(const char *text, const char *section, const char *key)
{
	char *copy = xstrdup(text), *save = NULL, *line, *found = NULL;
	int in = 0;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *t, *eq;
		if (line[0] == ' ' || line[0] == '\t')
			continue;
		t = trim(line);
		if (*t == '#' || *t == ';' || !*t)
			continue;
		if (*t == '[') {
			char *end = strchr(t, ']');
			if (end)
				*end = '\0';
			in = strcmp(trim(t + 1), section) == 0;
			continue;
		}
		if (!in || !(eq = strchr(t, '=')))
			continue;
		*eq = '\0';
		if (strcmp(trim(t), key) == 0) {
			free(found);
			found = xstrdup(trim(eq + 1));
		}
	}
	OPENSSL_cleanse(copy, strlen(text));
	free(copy);
	return found;
}

/* Reads an INI file; NULL when absent or unreadable. */
static char *ini_read(const char *path)
{
	char *text = NULL, err[256];

	if (access(path, R_OK) != 0)
		return NULL;
	if (util_read_file(path, AWS_INI_MAX, &text, NULL, err, sizeof(err)))
		return NULL;
	return text;
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* Looks for static keys of profile in one file. section is the section
 * name in that file ("NAME" or "profile NAME"). 1 found, 0 not. */
static int from_file(const char *path, const char *section, aws_credentials *out)
{
	char *text = ini_read(path);
	char *id, *secret;
	strbuf sb = { 0 };

	if (!text)
		return 0;
	id = ini_get(text, section, "aws_access_key_id");
	secret = ini_get(text, section, "aws_secret_access_key");
	if (id && secret && *id && *secret) {
		out->access_key_id = id;
		out->secret_access_key = secret;
		out->session_token = ini_get(text, section, "aws_session_token");
		sb_printf(&sb, "profile %s in %s", section, path);
		out->source = sb_steal(&sb);
		wipe_free(text);
		return 1;
	}
	wipe_free(id);
	wipe_free(secret);
	wipe_free(text);
	return 0;
}

/* Names a credential kind the profile uses that this client cannot
 * follow (SSO, roles, processes), so the error can say so. */
static const char *unsupported_kind(const char *cfg_path, const char *section)
{
	static const char *const keys[] = { "sso_session", "sso_start_url", "role_arn",
					    "credential_process", "web_identity_token_file" };
	char *text = ini_read(cfg_path);
	const char *kind = NULL;

	if (!text)
		return NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !kind; i++) {
		char *v = ini_get(text, section, keys[i]);
		if (v)
			kind = keys[i];
		free(v);
	}
	wipe_free(text);
	return kind;
}

int aws_credentials_resolve(aws_credentials *out, char *err, size_t errlen)
{
	const char *id = env_nonempty("AWS_ACCESS_KEY_ID");
	const char *secret = env_nonempty("AWS_SECRET_ACCESS_KEY");
	const char *profile = profile_name();
	char *cred_path = NULL, *cfg_path = NULL, section[512];
	const char *kind;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (id && secret) {
		const char *tok = env_nonempty("AWS_SESSION_TOKEN");
		out->access_key_id = xstrdup(id);
		out->secret_access_key = xstrdup(secret);
		out->session_token = tok ? xstrdup(tok) : NULL;
		out->source = xstrdup("environment");
		return 0;
	}
	if (id || secret) {
		util_errf(err, errlen, "incomplete AWS credentials: %s is set but %s is not",
			  id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			  id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -1;
	}
	cred_path = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	cfg_path = aws_file("AWS_CONFIG_FILE", "config");
	if (from_file(cred_path, profile, out)) {
		rc = 0;
		goto out;
	}
	if (strcmp(profile, "default") == 0)
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %s", profile);
	if (from_file(cfg_path, section, out)) {
		rc = 0;
		goto out;
	}
	kind = unsupported_kind(cfg_path, section);
	if (kind)
		util_errf(err, errlen, "AWS profile \"%s\" uses %s, which vidgen cannot follow: "
			  "export static keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
			  "AWS_SESSION_TOKEN), e.g. with `aws configure export-credentials "
			  "--format env`", profile, kind);
	else
		util_errf(err, errlen, "no AWS credentials: set AWS_ACCESS_KEY_ID and "
			  "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile with "
			  "aws_access_key_id/aws_secret_access_key in %s or %s (profile \"%s\" "
			  "has none)", cred_path, cfg_path, profile);
out:
	free(cred_path);
	free(cfg_path);
	return rc;
}

void aws_credentials_clear(aws_credentials *c)
{
	if (!c)
		return;
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

static void region_check(char *out, size_t outlen);

void aws_region_resolve(char *out, size_t outlen)
{
	const char *r = env_nonempty("AWS_REGION");
	const char *profile = profile_name();
	char *cfg_path, *text, *v = NULL, section[512];

	if (!r)
		r = env_nonempty("AWS_DEFAULT_REGION");
	if (r) {
		snprintf(out, outlen, "%s", r);
		region_check(out, outlen);
		return;
	}
	if (strcmp(profile, "default") == 0)
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %s", profile);
	cfg_path = aws_file("AWS_CONFIG_FILE", "config");
	text = ini_read(cfg_path);
	if (text)
		v = ini_get(text, section, "region");
	snprintf(out, outlen, "%s", v && *v ? v : AWS_DEFAULT_REGION);
	free(v);
	wipe_free(text);
	free(cfg_path);
	region_check(out, outlen);
}

/* A region ends up in host names: anything but [a-z0-9-] is refused in
 * favour of the default rather than spliced into a URL. */
static void region_check(char *out, size_t outlen)
{
	for (const char *c = out; *c; c++)
		if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-')) {
			snprintf(out, outlen, "%s", AWS_DEFAULT_REGION);
			return;
		}
	if (!*out)
		snprintf(out, outlen, "%s", AWS_DEFAULT_REGION);
}
