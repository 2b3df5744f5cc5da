/*
 * Tests for core/cloud/aws.c: the credential chain (environment, credentials
 * file, config file, named profiles), its error messages, and region
 * resolution. Every test builds its own files in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cloud/aws.h"
#include "util.h"

static char tmpdir[256];

static void write_text(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char path[512];

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vg_test_aws.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
		"AWS_DEFAULT_REGION" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	snprintf(path, sizeof(path), "%s/credentials", tmpdir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	snprintf(path, sizeof(path), "%s/config", tmpdir);
	setenv("AWS_CONFIG_FILE", path, 1);
	return 0;
}

static int teardown(void **state)
{
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/credentials", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

static void test_env_wins(void **state)
{
	aws_credentials c;
	char err[512];

	(void)state;
	write_text("credentials", "[default]\naws_access_key_id = FILEKEY\n"
		   "aws_secret_access_key = FILESECRET\n");
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
	setenv("AWS_SESSION_TOKEN", "ENVTOKEN", 1);
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key_id, "ENVKEY");
	assert_string_equal(c.secret_access_key, "ENVSECRET");
	assert_string_equal(c.session_token, "ENVTOKEN");
	assert_string_equal(c.source, "environment");
	aws_credentials_clear(&c);
	assert_null(c.secret_access_key);
	aws_credentials_clear(&c); /* twice is harmless */
}

static void test_partial_env_is_an_error(void **state)
{
	aws_credentials c;
	char err[512] = "";

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY is not"));
	assert_null(strstr(err, "ENVKEY"));
}

static void test_named_profile_in_credentials(void **state)
{
	aws_credentials c;
	char err[512];

	(void)state;
	write_text("credentials", "# comment\n[default]\naws_access_key_id=D\n"
		   "aws_secret_access_key=DS\n\n[work]\n  aws_access_key_id = W \n"
		   "aws_access_key_id = WORKKEY\n; other\naws_secret_access_key = WORK/SECRET+=\n"
		   "aws_session_token = TOK\n");
	setenv("AWS_PROFILE", "work", 1);
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key_id, "WORKKEY");
	assert_string_equal(c.secret_access_key, "WORK/SECRET+=");
	assert_string_equal(c.session_token, "TOK");
	assert_non_null(strstr(c.source, "profile work"));
	aws_credentials_clear(&c);

	unsetenv("AWS_PROFILE");
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key_id, "D");
	assert_null(c.session_token);
	aws_credentials_clear(&c);
}

static void test_profile_in_config(void **state)
{
	aws_credentials c;
	char err[512], region[64];

	(void)state;
	write_text("config", "[default]\nregion = us-east-1\n[profile cfg]\n"
		   "region = eu-west-1\naws_access_key_id = CFGKEY\naws_secret_access_key = CFGS\n");
	setenv("AWS_PROFILE", "cfg", 1);
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key_id, "CFGKEY");
	aws_credentials_clear(&c);
	aws_region_resolve(region, sizeof(region));
	assert_string_equal(region, "eu-west-1");
	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	aws_region_resolve(region, sizeof(region));
	assert_string_equal(region, "ap-south-1");
	setenv("AWS_REGION", "us-west-2", 1);
	aws_region_resolve(region, sizeof(region));
	assert_string_equal(region, "us-west-2");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	aws_region_resolve(region, sizeof(region));
	assert_string_equal(region, "us-east-1");
}

static void test_region_default_and_hostile(void **state)
{
	char region[64];

	(void)state;
	aws_region_resolve(region, sizeof(region));
	assert_string_equal(region, "eu-west-3");
	setenv("AWS_REGION", "evil.com/x", 1);
	aws_region_resolve(region, sizeof(region));
	assert_string_equal(region, "eu-west-3");
}

static void test_missing_is_clear(void **state)
{
	aws_credentials c;
	char err[512] = "";

	(void)state;
	setenv("AWS_PROFILE", "nosuch", 1);
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no AWS credentials"));
	assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
	assert_non_null(strstr(err, "\"nosuch\""));
	assert_null(c.access_key_id);
}

static void test_sso_profile_is_named(void **state)
{
	aws_credentials c;
	char err[512] = "";

	(void)state;
	write_text("config", "[profile sso]\nsso_session = corp\nregion = eu-west-3\n");
	setenv("AWS_PROFILE", "sso", 1);
	assert_int_equal(aws_credentials_resolve(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sso_session"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_env_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_env_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_profile_in_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_in_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_default_and_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_is_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sso_profile_is_named, setup, teardown),
	};
	return cmocka_run_group_tests_name("aws", tests, NULL, NULL);
}
