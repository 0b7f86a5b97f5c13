/*
 * channels.h: what the channels add to the daemon's tables that are not
 * theirs: their sections of switchboard.conf. main.c hands the list to
 * gw_config_set_sections before loading the file. Adding a channel adds
 * its section here (docs/architecture.md, "Adding a channel").
 */
#ifndef CHANNELS_H
#define CHANNELS_H

#include "config.h"

/* NULL-ended. */
extern const struct gw_config_section *const channels_config_sections[];

#endif
