/* Tests of supervisor/secrets.c: what is scrubbed from a worker's
 * report. A secret holding a quote or a backslash is escaped in the
 * report's JSON, and was once missed by a search of the raw bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "secrets.h"

static void
test_secret_with_quote_and_backslash_is_masked_in_json(void **state)
{
	struct secret_set	 s = { 0 };
	const char		*secret = "pa\"ss\\word";
	cJSON			*report = cJSON_CreateObject(), *d;
	char			*text;

	(void)state;
	assert_int_equal(secrets_add(&s, secret), 0);
	cJSON_AddStringToObject(report, "check", "careless");
	cJSON_AddStringToObject(report, "message", "token is pa\"ss\\word!");
	d = cJSON_AddObjectToObject(report, "details");
	cJSON_AddStringToObject(d, "output", "pa\"ss\\word");
	/* what the root receives: JSON text, with the secret escaped */
	text = cJSON_PrintUnformatted(report);
	assert_null(strstr(text, secret));
	cJSON_Delete(report);
	report = cJSON_Parse(text);
	free(text);
	secrets_scrub_json(&s, report);
	text = cJSON_PrintUnformatted(report);
	assert_null(strstr(text, "pa\\\"ss"));
	assert_null(strstr(text, "word"));
	assert_non_null(strstr(text, "token is **********!"));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(report, "details"), "output")), "**********");
	free(text);
	cJSON_Delete(report);
	secrets_clear(&s);
}

static void
test_every_occurrence_in_text(void **state)
{
	struct secret_set	s = { 0 };
	char			text[] = "abc-hunter2-hunter2-xyz";

	(void)state;
	assert_int_equal(secrets_add(&s, "hunter2"), 0);
	assert_int_equal(secrets_add(&s, "hunter2"), 0);	/* once */
	assert_int_equal(s.n, 1);
	secrets_scrub(&s, text, strlen(text));
	assert_string_equal(text, "abc-*******-*******-xyz");
	secrets_clear(&s);
	assert_int_equal(s.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_secret_with_quote_and_backslash_is_masked_in_json),
		cmocka_unit_test(test_every_occurrence_in_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
