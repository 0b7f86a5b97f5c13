/*
 * identity.h: who a contact is, in the one form the customer record stores
 * and matches (customer_identities: kind, value; one (kind, value) belongs
 * to one customer, and ingest matches by exact equality). Every channel,
 * the records API and ingest normalise what they were given here, so the
 * same person typed two ways is one identity.
 *
 * Pure: no I/O, no allocation, no global state; any thread. Every function
 * reads a NUL-terminated string of outside input (bounded here: a longer
 * one is refused), writes at most len bytes to out (always terminated when
 * it returns 0), and on refusal returns -1 with *why set to a static
 * sentence fit to show the person who typed it. Fuzzed by
 * tests/fuzz/fuzz_identity.c; docs/architecture.md ("Identity").
 */
#ifndef GW_IDENTITY_H
#define GW_IDENTITY_H

#include <stddef.h>

/* customer_identities.value holds at most this many bytes. */
#define IDENTITY_VALUE_MAX 320
/* RFC 5321: a path of 256 octets with its <>; a local part of 64. */
#define IDENTITY_EMAIL_MAX       254
#define IDENTITY_EMAIL_LOCAL_MAX 64
/* E.164: '+' and at most 15 digits; a buffer for one, with its NUL. */
#define IDENTITY_PHONE_LEN 17
#define IDENTITY_CHAT_MAX  200
#define IDENTITY_UPRN_MAX  12
/* Raw input longer than this is refused before it is looked at. */
#define IDENTITY_INPUT_MAX 1024

/* The kinds customer_identities.kind allows, in the order of the table. */
enum identity_kind {
	IDENTITY_EMAIL = 0,
	IDENTITY_PHONE,
	IDENTITY_CHAT, /* the web chat widget's visitor token */
	IDENTITY_UPRN, /* Unique Property Reference Number */
};
#define IDENTITY_KINDS 4

/* One normalised identity, as stored. */
struct identity {
	enum identity_kind kind;
	char value[IDENTITY_VALUE_MAX + 1];
};

typedef int (*identity_normalise_fn)(const char *in, char *out, size_t len,
                                     const char **why);

/*
 * The kind table: callers dispatch by it (a form's field name, a JSON key,
 * a provider's field) instead of naming kinds in strcmp chains. name is
 * customer_identities.kind; max the longest normalised value in bytes.
 */
struct identity_kind_def {
	enum identity_kind kind;
	const char *name;
	size_t max;
	identity_normalise_fn normalise;
};
extern const struct identity_kind_def identity_kinds[IDENTITY_KINDS];

/* The table's entry for name ("email", ...), or NULL. */
const struct identity_kind_def *identity_kind_find(const char *name);
/* The stored name of a kind ("email", ...); "" for a value out of range. */
const char *identity_kind_name(enum identity_kind kind);

/*
 * An email address: surrounding white space trimmed, lower-cased, and
 * checked to a practical subset of RFC 5321: local-part@domain, a
 * dot-atom local part of at most 64 bytes (a quoted one is refused), a
 * domain of LDH labels (1 to 63 bytes, no hyphen at either end) with at
 * least two of them and a top-level label that is not all digits, at
 * most 254 bytes in all. Address literals ([192.0.2.1]) and non-ASCII
 * (internationalised) addresses are refused with a reason.
 */
int identity_email(const char *in, char *out, size_t len, const char **why);

/*
 * A phone number as E.164 ("+447700900123"). Spaces, '-', '.' and
 * brackets are ignored; one '+' may start it. Accepted:
 *   UK national       07700 900123, 07700-900-123, (020) 7946 0000,
 *                     01632 960 000: 0 then a UK number
 *   UK international  +447700900123, +44 (0)7700 900123,
 *                     0044 7700 900123, 447700900123 (44 with no '+',
 *                     as GOV.UK Notify writes it), +44 07700... (a trunk
 *                     0 after 44 is dropped)
 *   other countries   +CC... and 00CC...: 7 to 15 digits, the first not 0
 * A UK number (after 44) must be 9 or 10 digits and start with 1, 2, 3,
 * 5, 7, 8 or 9 (04 and 06 are not allocated); 02, 03 and 07 numbers have
 * 10. Digits alone that start with neither 0 nor 44 are refused ("start
 * with +, 00 or 0"), unless flags has IDENTITY_PHONE_BARE_INTL: the
 * source writes every international number without its '+' (GOV.UK
 * Notify's source_number). Letters, "ext", "tel:" and other signs are
 * refused: nothing is guessed.
 */
#define IDENTITY_PHONE_BARE_INTL 0x1u
int identity_phone(const char *in, unsigned flags, char *out, size_t len,
                   const char **why);

/*
 * 1 when an E.164 number is a UK mobile that takes SMS: +447 and ten
 * digits, not 070 (personal numbers) nor 076 (pagers) except 07624 (Isle
 * of Man mobiles). 0 otherwise, including for anything not E.164.
 */
int identity_phone_uk_mobile(const char *e164);

/* The web chat's visitor token: printable ASCII, no spaces, 1 to 200. */
int identity_chat(const char *in, char *out, size_t len, const char **why);

/*
 * A UPRN: digits only (surrounding white space trimmed), leading zeros
 * dropped (a UPRN is often written zero-padded to 12), 1 to 12 digits,
 * not zero.
 */
int identity_uprn(const char *in, char *out, size_t len, const char **why);

/* Normalises in as kind, through the table. */
int identity_normalise(enum identity_kind kind, const char *in, char *out,
                       size_t len, const char **why);
/* An identity of the kind named kind ("email", ...) into *out. */
int identity_parse(const char *kind, const char *in, struct identity *out,
                   const char **why);
/*
 * 1 when a and b, as typed, are the same identity of kind (both
 * normalise, to the same value); 0 otherwise.
 */
int identity_match(enum identity_kind kind, const char *a, const char *b);

#endif
