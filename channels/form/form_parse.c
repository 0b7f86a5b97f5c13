/*
 * form_parse.c: a web-form submission parsed and checked (form_parse.h).
 * Pure; any thread. The JSON is jansson's (valid UTF-8 guaranteed, NUL in
 * strings refused, duplicate keys refused); the person's identities are
 * identity.h's.
 */
#include <string.h>

#include "form_parse.h"
#include "text.h"

/* Optional identity keys, in the order of form_sub.ids. */
static const struct {
	const char *key;
	enum identity_kind kind;
} ident_keys[FORM_IDS_MAX] = {
        {"email", IDENTITY_EMAIL},
        {"phone", IDENTITY_PHONE},
        {"uprn", IDENTITY_UPRN},
};

/* Optional text keys: where each goes, its limit in characters. */
struct text_key {
	const char *key;
	size_t offset;
	size_t max;
};
static const struct text_key text_keys[] = {
        {"form", offsetof(struct form_sub, title), FORM_TITLE_MAX},
        {"subject", offsetof(struct form_sub, subject), FORM_SUBJECT_MAX},
        {"name", offsetof(struct form_sub, name), FORM_NAME_MAX},
};

static int
fail(struct form_error *err, const char *code, const char *field, long index,
     const char *why)
{
	err->code = code;
	err->field = field;
	err->index = index;
	err->why = why;
	return -1;
}

/* 1 when s holds a C0 control or DEL (tab, LF, CR allowed if lines). */
static int
has_control(const char *s, int lines)
{
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (lines && (c == '\t' || c == '\n' || c == '\r'))
			continue;
		if (c < 0x20 || c == 0x7f)
			return 1;
	}
	return 0;
}

static int
parse_id(json_t *root, struct form_sub *sub, struct form_error *err)
{
	json_t *v = json_object_get(root, "submission_id");
	const char *s;
	size_t n, i;

	if (v == NULL || json_is_null(v))
		return fail(err, FORM_E_MISSING, "submission_id", -1,
		            "submission_id is required");
	if (!json_is_string(v))
		return fail(err, FORM_E_TYPE, "submission_id", -1,
		            "submission_id must be a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return fail(err, FORM_E_INVALID, "submission_id", -1,
		            "submission_id is empty");
	if (n > FORM_ID_MAX)
		return fail(err, FORM_E_TOO_LONG, "submission_id", -1,
		            "submission_id is longer than 200 bytes");
	for (i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return fail(err, FORM_E_INVALID, "submission_id", -1,
			            "submission_id must be printable ASCII "
			            "without spaces");
	sub->submission_id = s;
	return 0;
}

/* An optional string key: 0 (absent or set), -1. */
static int
parse_text(json_t *root, const struct text_key *k, struct form_sub *sub,
           struct form_error *err)
{
	json_t *v = json_object_get(root, k->key);
	const char *s;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(err, FORM_E_TYPE, k->key, -1,
		            "must be a string or null");
	s = json_string_value(v);
	if (s[0] == '\0')
		return 0;
	if (text_utf8_chars(s) > k->max)
		return fail(err, FORM_E_TOO_LONG, k->key, -1,
		            "is longer than the limit (docs/integrations.md)");
	if (has_control(s, 0))
		return fail(err, FORM_E_INVALID, k->key, -1,
		            "holds a control character");
	*(const char **)(void *)((char *)sub + k->offset) = s;
	return 0;
}

static int
parse_idents(json_t *root, struct form_sub *sub, struct form_error *err)
{
	struct identity *id;
	const char *why = NULL, *s;
	json_t *v;
	size_t i;

	for (i = 0; i < FORM_IDS_MAX; i++) {
		v = json_object_get(root, ident_keys[i].key);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v))
			return fail(err, FORM_E_TYPE, ident_keys[i].key, -1,
			            "must be a string or null");
		s = json_string_value(v);
		if (s[0] == '\0')
			continue;
		id = &sub->ids[sub->nids];
		id->kind = ident_keys[i].kind;
		if (identity_normalise(id->kind, s, id->value,
		                       sizeof(id->value), &why) < 0)
			return fail(err, FORM_E_INVALID, ident_keys[i].key, -1,
			            why != NULL ? why : "is not valid");
		sub->nids++;
	}
	return 0;
}

static int
parse_fields(json_t *root, struct form_sub *sub, struct form_error *err)
{
	json_t *arr = json_object_get(root, "fields"), *f, *l, *v;
	size_t i, total = 0;
	long ix;

	if (arr == NULL || json_is_null(arr))
		return fail(err, FORM_E_MISSING, "fields", -1,
		            "fields is required (an array, maybe empty)");
	if (!json_is_array(arr))
		return fail(err, FORM_E_TYPE, "fields", -1,
		            "fields must be an array");
	if (json_array_size(arr) > FORM_FIELDS_MAX)
		return fail(err, FORM_E_TOO_LONG, "fields", -1,
		            "more than 100 fields");
	json_array_foreach(arr, i, f)
	{
		ix = (long)i;
		if (!json_is_object(f))
			return fail(err, FORM_E_TYPE, "fields", ix,
			            "a field must be an object "
			            "{\"label\": ..., \"value\": ...}");
		l = json_object_get(f, "label");
		v = json_object_get(f, "value");
		if (l == NULL || v == NULL)
			return fail(err, FORM_E_MISSING, "fields", ix,
			            "a field needs a label and a value");
		if (!json_is_string(l) || !json_is_string(v))
			return fail(
			        err, FORM_E_TYPE, "fields", ix,
			        "a field's label and value must be strings");
		if (json_string_length(l) == 0)
			return fail(err, FORM_E_INVALID, "fields", ix,
			            "a field's label is empty");
		if (text_utf8_chars(json_string_value(l)) > FORM_LABEL_MAX)
			return fail(err, FORM_E_TOO_LONG, "fields", ix,
			            "a label is longer than 200 characters");
		if (text_utf8_chars(json_string_value(v)) > FORM_VALUE_MAX)
			return fail(err, FORM_E_TOO_LONG, "fields", ix,
			            "a value is longer than 10000 characters");
		if (has_control(json_string_value(l), 0) ||
		    has_control(json_string_value(v), 1))
			return fail(err, FORM_E_INVALID, "fields", ix,
			            "a label or value holds a control "
			            "character");
		total += json_string_length(l) + json_string_length(v);
		if (total > FORM_TOTAL_MAX)
			return fail(err, FORM_E_TOO_LONG, "fields", ix,
			            "the fields together are longer than "
			            "30000 bytes");
		sub->fields[i].label = json_string_value(l);
		sub->fields[i].value = json_string_value(v);
		sub->nfields = i + 1;
	}
	return 0;
}

static int
parse_when(json_t *root, struct form_sub *sub, struct form_error *err)
{
	json_t *v = json_object_get(root, "submitted_at");

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(err, FORM_E_TYPE, "submitted_at", -1,
		            "submitted_at must be a string or null");
	if (form_rfc3339_ms(json_string_value(v), &sub->submitted_ms) < 0)
		return fail(err, FORM_E_INVALID, "submitted_at", -1,
		            "submitted_at is not an RFC 3339 date-time "
		            "(2026-12-07T09:30:00Z)");
	return 0;
}

int
form_parse(const char *body, size_t len, struct form_sub *sub,
           struct form_error *err)
{
	json_error_t jerr;
	json_t *root;
	size_t i;
	int rc = -1;

	memset(sub, 0, sizeof(*sub));
	sub->submitted_ms = -1;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		fail(err, FORM_E_JSON, NULL, -1,
		     "the body is not one JSON object (UTF-8, no duplicate "
		     "keys)");
		goto out;
	}
	if (parse_id(root, sub, err) < 0 || parse_when(root, sub, err) < 0)
		goto out;
	for (i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++)
		if (parse_text(root, &text_keys[i], sub, err) < 0)
			goto out;
	if (parse_idents(root, sub, err) < 0 ||
	    parse_fields(root, sub, err) < 0)
		goto out;
	sub->root = root;
	root = NULL;
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		memset(sub, 0, sizeof(*sub));
		sub->submitted_ms = -1;
	}
	return rc;
}

void
form_sub_clear(struct form_sub *sub)
{
	if (sub == NULL)
		return;
	json_decref(sub->root);
	memset(sub, 0, sizeof(*sub));
	sub->submitted_ms = -1;
}

/* n digits at s as a number, or -1. */
static int
digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long
days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (long long)era * 146097 + doe - 719468;
}

static int
month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
	                             31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int
form_rfc3339_ms(const char *s, long long *ms)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, frac = 0, scale;
	size_t n = strlen(s), i = 19;
	long long t;

	/* YYYY-MM-DDTHH:MM:SS then [.frac] then Z or +HH:MM */
	if (n < 20 || n > 40 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (s[i] == '.') {
		i++;
		scale = 100;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		for (; s[i] >= '0' && s[i] <= '9'; i++) {
			if (i > 28)
				return -1;
			frac += (s[i] - '0') * scale;
			scale /= 10;
		}
	}
	if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0') {
		sign = 0;
	} else if ((s[i] == '+' || s[i] == '-') && n - i == 6 &&
	           s[i + 3] == ':') {
		sign = s[i] == '+' ? 1 : -1;
		oh = digits(s + i + 1, 2);
		om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
	} else {
		return -1;
	}
	/* A leap second is counted as the second before the next minute. */
	if (sec == 60)
		sec = 59;
	t = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec;
	t -= sign * (oh * 3600LL + om * 60LL);
	if (t < 0)
		return -1;
	*ms = t * 1000 + frac;
	return 0;
}
