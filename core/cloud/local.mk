# Cloud access for plugins: the HTTP client behind svc->http, SigV4 signing
# and the AWS credential chain, with their unit tests.
# They form vgcloud.so, a module the engine loads the first time a job needs
# it (core/cloud/cloud.c), so a daemon that never calls out maps no
# libcurl/OpenSSL.
libvgcore_la_SOURCES += core/cloud/cloud.c core/cloud/cloud.h

noinst_LTLIBRARIES += libvgcloud.la
libvgcloud_la_SOURCES = \
	core/cloud/http_client.c core/cloud/http_client.h \
	core/cloud/sigv4.c core/cloud/sigv4.h \
	core/cloud/aws.c core/cloud/aws.h
libvgcloud_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS)
libvgcloud_la_LIBADD = $(CURL_LIBS) $(OPENSSL_LIBS)

pkglib_LTLIBRARIES += vgcloud.la
vgcloud_la_SOURCES = core/cloud/cloud_module.c core/util.c core/log.c
vgcloud_la_LIBADD = libvgcloud.la
vgcloud_la_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^vidgen_cloud_api$$'

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_sigv4 tests/unit/test_http_client tests/unit/test_aws
TESTS += tests/unit/test_sigv4 tests/unit/test_http_client tests/unit/test_aws

CLOUD_TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(OPENSSL_CFLAGS)
CLOUD_TEST_LDADD = libvgcloud.la libvgcore.la $(CMOCKA_LIBS)

# The AWS SigV4 suite is kept in tests/vectors/sigv4 (Apache-2.0, NOTICE
# beside it); the test also takes a directory as argv[1] or $VG_SIGV4_VECTORS.
tests_unit_test_sigv4_SOURCES = tests/unit/test_sigv4.c
tests_unit_test_sigv4_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_unit_test_sigv4_CPPFLAGS = $(AM_CPPFLAGS) \
	-DVG_SIGV4_VECTORS='"$(abs_top_srcdir)/tests/vectors/sigv4"'
tests_unit_test_sigv4_LDADD = $(CLOUD_TEST_LDADD)

tests_unit_test_http_client_SOURCES = tests/unit/test_http_client.c
tests_unit_test_http_client_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_unit_test_http_client_LDADD = $(CLOUD_TEST_LDADD)

tests_unit_test_aws_SOURCES = tests/unit/test_aws.c
tests_unit_test_aws_CFLAGS = $(CLOUD_TEST_CFLAGS)
tests_unit_test_aws_LDADD = $(CLOUD_TEST_LDADD)
endif

# End-to-end: the cloud plugins against the protocol fakes (tests/fakes;
# moto from the test venv that scripts/install-deps.sh makes).
TESTS += tests/e2e/cloud_errors.sh tests/e2e/cloud_pipeline.sh tests/e2e/cloud_local.sh
EXTRA_DIST += tests/e2e/cloud_errors.sh tests/e2e/cloud_pipeline.sh tests/e2e/cloud_local.sh \
	tests/e2e/cloud_lib.sh \
	tests/e2e/cloud \
	tests/fakes/cloud_fake.py tests/fakes/fakes.py tests/fakes/s3_inspect.py
EXTRA_DIST += tests/vectors/sigv4
