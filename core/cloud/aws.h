/*
 * AWS credentials and region, found as the AWS CLI finds them: environment
 * variables first, then the profile (AWS_PROFILE, default "default") in the
 * shared credentials file and the config file.
 */
#ifndef VG_AWS_H
#define VG_AWS_H

#include <stddef.h>

#define AWS_DEFAULT_REGION "eu-west-3"

typedef struct aws_credentials {
	char *access_key_id;     /* malloc'd; never logged */
	char *secret_access_key; /* malloc'd; wiped by aws_credentials_clear */
	char *session_token;     /* malloc'd, or NULL */
	char *source;            /* where they came from, for messages:
				  * "environment" or "profile NAME in FILE" */
} aws_credentials;

/* Resolves credentials: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
 * AWS_SESSION_TOKEN); else the profile AWS_PROFILE (or AWS_DEFAULT_PROFILE,
 * else "default") in AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), then
 * in AWS_CONFIG_FILE (~/.aws/config, section "profile NAME"). 0 ok; -1 with
 * a plain-language reason in err. The caller frees with
 * aws_credentials_clear, which wipes the secrets. */
int aws_credentials_resolve(aws_credentials *out, char *err, size_t errlen);

/* Wipes and frees what aws_credentials_resolve filled; safe on a zeroed or
 * already-cleared struct. */
void aws_credentials_clear(aws_credentials *c);

/* The region: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's
 * `region` in the config file, else eu-west-3. Writes into out. */
void aws_region_resolve(char *out, size_t outlen);

#endif
