package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{
		BusURL:          "ws://127.0.0.1:8181/core",
		DataDir:         "/var/lib/ovos-oauth",
		Listen:          "0.0.0.0:36536",
		PublicHost:      "192.168.1.20",
		QRDir:           "/var/lib/ovos-oauth/qr",
		FlowTTL:         10 * time.Minute,
		ReauthWarning:   14 * 24 * time.Hour,
		LogFormat:       "text",
		LogLevel:        "info",
		MirrorOVOSUtils: true,
		ImportOnStart:   true,
		SecretsKeyFile:  "/var/lib/ovos-oauth/secrets.key",
	}
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(c *Config)
	}{
		{"defaults", func(*Config) {}},
		{"wss with IPv6 host", func(c *Config) { c.BusURL = "wss://[fd00::1]:8443/core" }},
		{"bus URL without route", func(c *Config) { c.BusURL = "ws://bus.lan:8181" }},
		{"embedded bus", func(c *Config) { c.EmbeddedBus = "0.0.0.0:8181" }},
		{"embedded bus on any port", func(c *Config) { c.EmbeddedBus = "127.0.0.1:0" }},
		{"listen on all interfaces", func(c *Config) { c.Listen = ":36536" }},
		{"listen on IPv6", func(c *Config) { c.Listen = "[::]:0" }},
		{"public host name", func(c *Config) { c.PublicHost = "mycroft.local" }},
		{"public host loopback", func(c *Config) { c.PublicHost = "127.0.0.1" }},
		{"every log level", func(c *Config) { c.LogLevel = "error" }},
		{"json logs", func(c *Config) { c.LogFormat = "json" }},
		{"short TTL", func(c *Config) { c.FlowTTL = time.Second }},
		{"warned an hour ahead", func(c *Config) { c.ReauthWarning = time.Hour }},
		{"warned a year ahead", func(c *Config) { c.ReauthWarning = 365 * 24 * time.Hour }},
		{"metrics", func(c *Config) { c.MetricsListen = "127.0.0.1:9464" }},
		{"metrics on any port", func(c *Config) { c.MetricsListen = "[::1]:0" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(c *Config)
		key    string
	}{
		{"empty bus URL", func(c *Config) { c.BusURL = "" }, "bus_url"},
		{"http bus URL", func(c *Config) { c.BusURL = "http://127.0.0.1:8181/core" }, "bus_url"},
		{"bus URL without scheme", func(c *Config) { c.BusURL = "127.0.0.1:8181" }, "bus_url"},
		{"bus URL without host", func(c *Config) { c.BusURL = "ws:///core" }, "bus_url"},
		{"bus URL with a bad port", func(c *Config) { c.BusURL = "ws://h:99999/core" }, "bus_url"},
		{"bus URL unparsable", func(c *Config) { c.BusURL = "ws://h:8181/%zz" }, "bus_url"},
		{"bus URL with user info", func(c *Config) { c.BusURL = "ws://ovos:hunter2@127.0.0.1:8181/core" }, "bus_url"},
		{"embedded bus without port", func(c *Config) { c.EmbeddedBus = "127.0.0.1" }, "embedded_bus"},
		{"embedded bus with named port", func(c *Config) { c.EmbeddedBus = "127.0.0.1:http" }, "embedded_bus"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"relative data dir", func(c *Config) { c.DataDir = "data" }, "data_dir"},
		{"empty key file", func(c *Config) { c.SecretsKeyFile = "" }, "secrets_key_file"},
		{"relative key file", func(c *Config) { c.SecretsKeyFile = "secrets.key" }, "secrets_key_file"},
		{"empty listen", func(c *Config) { c.Listen = "" }, "listen"},
		{"listen port only", func(c *Config) { c.Listen = "36536" }, "listen"},
		{"listen port too big", func(c *Config) { c.Listen = "0.0.0.0:65536" }, "listen"},
		{"empty public host", func(c *Config) { c.PublicHost = "" }, "public_host"},
		{"public host 0.0.0.0", func(c *Config) { c.PublicHost = "0.0.0.0" }, "public_host"},
		{"public host ::", func(c *Config) { c.PublicHost = "::" }, "public_host"},
		{"public host IPv6", func(c *Config) { c.PublicHost = "fd00::1" }, "public_host"},
		{"public host with port", func(c *Config) { c.PublicHost = "192.168.1.20:36536" }, "public_host"},
		{"public host URL", func(c *Config) { c.PublicHost = "http://192.168.1.20" }, "public_host"},
		{"empty QR dir", func(c *Config) { c.QRDir = "" }, "qr_dir"},
		{"relative QR dir", func(c *Config) { c.QRDir = "qr" }, "qr_dir"},
		{"zero TTL", func(c *Config) { c.FlowTTL = 0 }, "flow_ttl"},
		{"TTL in nanoseconds", func(c *Config) { c.FlowTTL = 600 }, "flow_ttl"},
		{"negative TTL", func(c *Config) { c.FlowTTL = -time.Minute }, "flow_ttl"},
		{"no warning", func(c *Config) { c.ReauthWarning = 0 }, "reauth_warning"},
		{"warning in nanoseconds", func(c *Config) { c.ReauthWarning = 14 }, "reauth_warning"},
		{"warning over a year ahead", func(c *Config) { c.ReauthWarning = 366 * 24 * time.Hour }, "reauth_warning"},
		{"bad log format", func(c *Config) { c.LogFormat = "logfmt" }, "log_format"},
		{"empty log format", func(c *Config) { c.LogFormat = "" }, "log_format"},
		{"bad log level", func(c *Config) { c.LogLevel = "verbose" }, "log_level"},
		{"upper-case log level", func(c *Config) { c.LogLevel = "INFO" }, "log_level"},
		{"metrics port only", func(c *Config) { c.MetricsListen = "9464" }, "metrics_listen"},
		{"metrics URL", func(c *Config) { c.MetricsListen = "http://127.0.0.1:9464/metrics" }, "metrics_listen"},
		{"metrics port too big", func(c *Config) { c.MetricsListen = "127.0.0.1:65536" }, "metrics_listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %s", tt.key)
			}
			if !strings.HasPrefix(err.Error(), tt.key+": ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() = %q, want one error starting %q", err, tt.key+": ")
			}
		})
	}
}

// TestValidateBusURLHidesSecrets: an error about bus_url shows the URL
// without its user info or query, which may hold a password.
func TestValidateBusURLHidesSecrets(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"ws://ovos:hunter2@127.0.0.1:8181/core",
		"http://127.0.0.1:8181/core?token=hunter2",
		"ws://127.0.0.1:99999/core?token=hunter2",
		"ws:///core?token=hunter2",
		"ws://ovos:hunter2@127.0.0.1:8181/%zz",
	} {
		c := validConfig()
		c.BusURL = u
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "bus_url: ") {
			t.Errorf("Validate() with bus_url %q = %v, want a bus_url error", u, err)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Validate() with bus_url %q = %q, shows the secret", u, err)
		}
	}
}

func TestValidateReportsEveryKey(t *testing.T) {
	t.Parallel()
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("Config{}.Validate() = nil, want errors")
	}
	for _, k := range []string{"bus_url", "data_dir", "listen", "public_host", "qr_dir", "flow_ttl", "log_format", "log_level"} {
		if !strings.Contains(err.Error(), k+": ") {
			t.Errorf("Config{}.Validate() = %q, want it to name %s", err, k)
		}
	}
}

func TestLogLevelValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
		{"", slog.LevelInfo},
		{"bogus", slog.LevelInfo},
	}
	for _, tt := range tests {
		if got := (Config{LogLevel: tt.level}).LogLevelValue(); got != tt.want {
			t.Errorf("Config{LogLevel: %q}.LogLevelValue() = %v, want %v", tt.level, got, tt.want)
		}
	}
}

func TestDBPath(t *testing.T) {
	t.Parallel()
	if got, want := (Config{DataDir: "/var/lib/ovos-oauth"}).DBPath(), "/var/lib/ovos-oauth/ovos-oauth.db"; got != want {
		t.Errorf("DBPath() = %q, want %q", got, want)
	}
}
