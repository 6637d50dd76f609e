// Package config loads ovos-oauth's settings and is the only package that
// touches viper; the rest of the daemon receives a plain Config.
//
// Every setting has a config-file key (bus_url), a flag of "ovos-oauth serve"
// (--bus-url) and an environment variable (OVOS_OAUTH_BUS_URL). Sources, the
// first that sets a non-empty value winning:
//
//  1. flags;
//  2. OVOS_OAUTH_* environment variables;
//  3. ovos-oauth's config files: the one named by --config or
//     $OVOS_OAUTH_CONFIG, else $XDG_CONFIG_HOME/ovos-oauth/config.{yaml,yml,json}
//     merged over /etc/ovos-oauth/config.{yaml,yml,json} (the first name
//     that exists in each directory; $OVOS_OAUTH_SYSTEM_CONFIG_DIR replaces
//     /etc/ovos-oauth);
//  4. the OVOS mycroft.conf stack, for bus_url (its websocket block), the
//     port of listen (PHAL.ovos-PHAL-plugin-oauth.port), bus_secret_key and
//     bus_allow_unencrypted (websocket.secret_key and
//     websocket.allow_unencrypted), and lang (its lang), with bus_url
//     taken from embedded_bus first when that is set;
//  5. built-in defaults, some derived from the machine (data_dir from
//     $STATE_DIRECTORY or the XDG state directory, public_host from the
//     default route's interface).
//
// The default data_dir is systemd's $STATE_DIRECTORY, else
// $XDG_STATE_HOME/ovos-oauth (~/.local/state/ovos-oauth, the user unit's
// folder) unless only the default of older versions,
// $XDG_DATA_HOME/ovos-oauth (~/.local/share/ovos-oauth), holds a
// database: that one is used where it is. LoadCommand, for the commands
// on the database, also takes the system unit's /var/lib/ovos-oauth
// ($OVOS_OAUTH_SYSTEM_DATA_DIR, for packagers and tests) as root or as its
// owner when this user's folders hold no database.
//
// A key in a config file that is not a setting is an error naming it, as is
// a value that cannot be decoded or does not pass Config.Validate. The value
// of bus_secret_key appears in no error, log line or usage text.
package config
