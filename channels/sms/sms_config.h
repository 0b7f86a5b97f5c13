/*
 * sms_config.h: the sms section of switchboard.conf (docs/sms.md,
 * "Configuration"), registered with the loader through channels/channels.c,
 * checked by switchboard -t with FILE:LINE.
 *
 *   sms {
 *       public_url = "https://contact.council.gov.uk"  # as providers reach us
 *       timeout = 10          # seconds for one request to a provider
 *       batch = 50            # outbox rows claimed at once
 *       poll_ms = 500         # how often the outbox is looked at
 *       lease = 120           # seconds a claimed row is ours
 *       sender council {
 *           provider = "notify"             # notify | twilio
 *           number = "07700900123"          # ours: E.164 after normalising,
 *                                           # or an alphanumeric sender id
 *           queue = "contact-centre"        # where new texts wait
 *           max_length = 612                # characters of one desk text
 *           base_url = "https://api.notifications.service.gov.uk"
 *           ca_file = ""                    # optional: that CA file only
 *           # GOV.UK Notify
 *           api_key_file = "/etc/switchboard/notify.key"
 *           template_id = "<uuid>"          # a template whose body is ((body))
 *           sms_sender_id = "<uuid>"        # optional
 *           callback_token_file = "/etc/switchboard/notify-callback.token"
 *           callback_token_previous_file = ""   # while rotating
 *           # Twilio
 *           account_sid = "AC..."
 *           auth_token_file = "/etc/switchboard/twilio.token"
 *           auth_token_previous_file = ""   # Twilio's secondary token,
 * rotating messaging_service_sid = "MG..." # optional: sent from the service
 *       }
 *   }
 *
 * Secrets are read at start-up and never logged. A Notify API key is the
 * key string Notify shows once ("name-<service id>-<secret>"): the two
 * UUIDs at its end are the service id and the signing secret. Loop thread
 * after loading; the settings are immutable.
 */
#ifndef SMS_CONFIG_H
#define SMS_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "identity.h"

#define SMS_SENDERS_MAX  32
#define SMS_NAME_MAX     64
#define SMS_SECRET_MAX   512
#define SMS_URL_MAX      1024
#define SMS_LENGTH_LIMIT 1600 /* Twilio's own; Notify's is 918 */

enum sms_provider {
	SMS_NOTIFY = 0,
	SMS_TWILIO,
};

struct sms_sender {
	char name[SMS_NAME_MAX + 1]; /* a-z0-9_- */
	enum sms_provider provider;
	char number[IDENTITY_PHONE_LEN]; /* E.164, or "" with a sender id */
	char sender_id[12];              /* alphanumeric sender, or "" */
	char queue[65];
	unsigned max_length;
	char base_url[SMS_URL_MAX]; /* no trailing '/' */
	char *ca_file;              /* NULL: the system's */
	/* Notify */
	char service_id[37], *api_secret;
	char template_id[37], sms_sender_id[37];
	char *callback_tokens[2]; /* current, previous (NULL: none) */
	/* Twilio */
	char account_sid[35], messaging_service_sid[35];
	char *auth_tokens[2]; /* current, previous (NULL: none) */
};

struct sms_config {
	char public_url[SMS_URL_MAX]; /* no trailing '/'; "" unset */
	unsigned timeout_s, batch, poll_ms, lease_s;
	struct sms_sender *senders;
	size_t nsenders;
};

extern const struct gw_config_section sms_config_section;

/* The sms settings of cfg (the section is always registered). */
const struct sms_config *sms_config(const struct gw_config *cfg);
/* The sender named name, or NULL. */
const struct sms_sender *sms_config_sender(const struct sms_config *c,
                                           const char *name);
/* The sender whose number is e164 (of provider p), or NULL. */
const struct sms_sender *sms_config_by_number(const struct sms_config *c,
                                              enum sms_provider p,
                                              const char *e164);
const char *sms_provider_name(enum sms_provider p);

#endif
