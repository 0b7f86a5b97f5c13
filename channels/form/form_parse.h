/*
 * form_parse.h: a web-form submission (POST /hooks/forms/{form}), parsed
 * and checked (docs/integrations.md, "The submission"). Pure: no I/O; the
 * only allocation is the parsed JSON the submission points into. Fuzzed
 * (tests/fuzz/fuzz_form.c) and unit tested case by case
 * (tests/unit/form/test_form_parse.c). Any thread.
 *
 * The body is one JSON object (UTF-8, no NUL, no duplicate keys):
 *
 *   submission_id  required string, 1..FORM_ID_MAX printable ASCII bytes
 *                  (0x21..0x7e): the sender's idempotency key
 *   submitted_at   optional RFC 3339 date-time ("2026-12-07T09:30:00Z",
 *                  "...+01:00", fractions of a second allowed): when the
 *                  person pressed submit, given as UTC milliseconds
 *   form           optional string: the form's title as the platform names
 *                  it (1..FORM_TITLE_MAX characters)
 *   subject        optional string (1..FORM_SUBJECT_MAX characters)
 *   name           optional string: the person's name (..FORM_NAME_MAX)
 *   email, phone   optional strings, normalised by identity.h; an invalid
 *   uprn           one is refused naming the field
 *   fields         required array of 0..FORM_FIELDS_MAX objects
 *                  {"label": string, "value": string}, in the order shown
 *                  to the advisor; a label 1..FORM_LABEL_MAX characters, a
 *                  value 0..FORM_VALUE_MAX characters, all labels and values
 *                  together at most FORM_TOTAL_MAX bytes
 *
 * Keys not named here are ignored (at the top level and in a field), so a
 * platform may send more than we read. null counts as absent for the
 * optional keys. Strings hold no control character, but a value may hold
 * tab, line feed and carriage return (multi-line answers).
 */
#ifndef FORM_PARSE_H
#define FORM_PARSE_H

#include <stddef.h>

#include <jansson.h>

#include "identity.h"

#define FORM_ID_MAX      200   /* bytes */
#define FORM_TITLE_MAX   200   /* characters */
#define FORM_SUBJECT_MAX 200   /* characters */
#define FORM_NAME_MAX    200   /* characters (ingest's name limit) */
#define FORM_FIELDS_MAX  100   /* fields */
#define FORM_LABEL_MAX   200   /* characters */
#define FORM_VALUE_MAX   10000 /* characters */
/*
 * Bytes of every label and value: escaped as JSON (at most twice as long)
 * with the rest of the metadata, they stay under ingest's 64 KiB.
 */
#define FORM_TOTAL_MAX 30000
/* The person's identities: email, phone, UPRN. */
#define FORM_IDS_MAX 3

struct form_field {
	const char *label;
	const char *value;
};

/*
 * A submission accepted. Strings point into root (valid until
 * form_sub_clear); NULL when absent.
 */
struct form_sub {
	json_t *root;
	const char *submission_id;
	long long submitted_ms; /* -1 when absent */
	const char *title;
	const char *subject;
	const char *name;
	struct identity ids[FORM_IDS_MAX]; /* normalised, in that order */
	size_t nids;
	struct form_field fields[FORM_FIELDS_MAX];
	size_t nfields;
};

/*
 * Why a submission was refused (the 400's body): code a short token
 * (FORM_E_*), field the key it concerns ("email", "fields") or NULL for
 * the body as a whole, index the field's position in "fields" or -1, why a
 * sentence for the sender's log. All static.
 */
struct form_error {
	const char *code;
	const char *field;
	long index;
	const char *why;
};

#define FORM_E_JSON     "not_json"   /* not one JSON object */
#define FORM_E_MISSING  "missing"    /* a required key is absent */
#define FORM_E_TYPE     "wrong_type" /* a key of the wrong JSON type */
#define FORM_E_INVALID  "invalid"    /* the right type, a bad value */
#define FORM_E_TOO_LONG "too_long"   /* over a limit above */

/*
 * Parses body (len bytes, any). Returns 0 with sub filled (release it with
 * form_sub_clear), or -1 with err set and nothing to release.
 */
int form_parse(const char *body, size_t len, struct form_sub *sub,
               struct form_error *err);
/* Releases what form_parse kept; sub is then empty. NULL is a no-op. */
void form_sub_clear(struct form_sub *sub);

/*
 * "2026-12-07T09:30:00Z" (RFC 3339 date-time, any offset, a fraction of
 * up to 9 digits, 'T'/'t' and 'Z'/'z' either case, years 1970..9999) as
 * UTC Unix milliseconds into *ms: 0, or -1.
 */
int form_rfc3339_ms(const char *s, long long *ms);

#endif
