/*
 * channels.c: the channels' registrations that the daemon's own code
 * reads (channels.h).
 */
#include "channels.h"
#include "chat_config.h"
#include "email_config.h"
#include "form_config.h"
#include "sms_config.h"
#include "voice_config.h"

const struct gw_config_section *const channels_config_sections[] = {
        &chat_config_section, &form_config_section,  &email_config_section,
        &sms_config_section,  &voice_config_section, NULL,
};
