/*
 * Reads an AWS error answer (bedrock, polly, s3): its short error type and
 * message, whichever protocol the service speaks.
 */
#ifndef VG_PLUGINS_AWS_ERROR_H
#define VG_PLUGINS_AWS_ERROR_H

#include "vidgen/plugin.h"

/* Fills type and msg from an error answer r whose body text is body (not
 * always r->body: a download keeps it in a file). JSON services (Bedrock,
 * Polly) name the type in the x-amzn-ErrorType header or the body's
 * __type ("ns#ThrottlingException:url" becomes "ThrottlingException") and
 * the text in "message" or "Message"; XML ones (S3) in <Code> and
 * <Message>. Both are cut to fit; type is "" and msg no_msg when the
 * answer has none. */
void aws_error_parse(const vg_http_response *r, const char *body, char *type, size_t tlen,
		     char *msg, size_t mlen, const char *no_msg);

#endif
