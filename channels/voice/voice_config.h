/*
 * voice_config.h: the voice section of switchboard.conf (docs/voice.md,
 * "Configuration"), registered with the loader through channels/channels.c,
 * checked by switchboard -t with FILE:LINE.
 *
 *   voice {
 *       queue = "contact-centre"       # calls are recorded on it (voice)
 *       callback_queue = "callbacks"   # missed calls wait here (voice)
 *       callback_within = 240          # minutes a callback is due within
 *       callback_by = "17:00"          # ... and by this time (London), if
 *                                      # later than now, else tomorrow's
 *       cti_secret_file = "/etc/switchboard/cti.secret"
 *       cti_secret_previous_file = ""  # while the phone system rotates
 *       public_url = "https://contact.council.gov.uk"  # Twilio signs it
 *       twilio_auth_token_file = "/etc/switchboard/twilio.token"
 *       twilio_auth_token_previous_file = ""
 *   }
 *
 * Without queue the channel is off (no webhook mounted). /hooks/cti is
 * mounted when a CTI secret is set, /hooks/twilio/voice when a Twilio auth
 * token is. Secrets are read at start-up and never logged.
 */
#ifndef VOICE_CONFIG_H
#define VOICE_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "signed_hook.h"

#define VOICE_QUEUE_MAX 64
#define VOICE_URL_BUF   1024

struct voice_config {
	char queue[VOICE_QUEUE_MAX + 1]; /* "": the channel is off */
	char callback_queue[VOICE_QUEUE_MAX + 1];
	unsigned callback_within_min;
	int callback_by_min; /* minutes after midnight (London), -1: none */
	unsigned char cti_secret[SIGNED_HOOK_KEYS_MAX][SIGNED_HOOK_SECRET_MAX];
	struct signed_hook_key cti_keys[SIGNED_HOOK_KEYS_MAX];
	size_t ncti_keys;
	char public_url[VOICE_URL_BUF]; /* no trailing '/' */
	char *twilio_tokens[2];         /* current, previous (NULL: none) */
};

extern const struct gw_config_section voice_config_section;

/* The voice settings of cfg (the section is always registered). */
const struct voice_config *voice_config(const struct gw_config *cfg);

#endif
