package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
)

// ErrHelp is returned by Load when -h or --help was given, after the usage
// has been written to stderr. It wraps pflag.ErrHelp; a command treats it as
// success.
var ErrHelp = fmt.Errorf("config: %w", pflag.ErrHelp)

// Environment variables that are not settings themselves.
const (
	envPrefix = "OVOS_OAUTH_"
	// envConfig names the config file, like --config.
	envConfig = "OVOS_OAUTH_CONFIG"
	// envSystemConfigDir replaces /etc/ovos-oauth, for packagers and tests.
	envSystemConfigDir = "OVOS_OAUTH_SYSTEM_CONFIG_DIR"
)

// keys are the settings' names in config files, in the order of --help and
// of configs/ovos-oauth.yaml. The flag is the key with dashes, the
// environment variable OVOS_OAUTH_ and the key in capitals.
var keys = []string{
	"bus_url",
	"embedded_bus",
	"data_dir",
	"listen",
	"public_host",
	"qr_dir",
	"flow_ttl",
	"reauth_warning",
	"log_format",
	"log_level",
	"mirror_ovos_utils",
	"relay_url",
	"secrets_key_file",
	"bus_secret_key",
	"bus_allow_unencrypted",
	"import_from",
	"import_on_start",
	"metrics_listen",
	"lang",
}

// secretKeys are the keys whose values must never be printed, not even in
// an error about them.
var secretKeys = []string{"bus_secret_key"}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }
func envName(key string) string  { return envPrefix + strings.ToUpper(key) }

// Load builds the Config of "ovos-oauth serve" from args (the words after
// "serve"), the environment as getenv reports it, ovos-oauth's config files
// and the OVOS mycroft.conf stack, and validates it. It reads no other
// environment: $HOME and the XDG variables come from getenv too. With -h or
// --help it writes the usage to stderr, in the language Lang finds, and
// returns ErrHelp. Load is safe to call concurrently.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	return defaultLoader().load(args, getenv, stderr)
}

// LoadOrigin is Load that also says how it chose the data directory:
// serve's, which logs it when it is the default of older versions.
func LoadOrigin(args []string, getenv func(string) string, stderr io.Writer) (Config, DataDirOrigin, error) {
	return defaultLoader().loadOrigin(args, getenv, stderr)
}

// LoadCommand is LoadOrigin for a command on the daemon's database
// (backup, restore, doctor, import) rather than serve: when no setting
// and no $STATE_DIRECTORY names the data directory and neither of this
// user's folders holds a database, it takes the system service's,
// /var/lib/ovos-oauth, if this process runs as root or as that folder's
// owner (the unit's User=) and can open the database there.
func LoadCommand(args []string, getenv func(string) string, stderr io.Writer) (Config, DataDirOrigin, error) {
	l := defaultLoader()
	l.command = true
	return l.loadOrigin(args, getenv, stderr)
}

// defaultLoader reads this machine.
func defaultLoader() loader {
	return loader{routeFile: "/proc/net/route", interfaces: systemInterfaces, euid: os.Geteuid()}
}

// loader holds what Load reads of the machine besides files and the
// environment, so that tests can replace it.
type loader struct {
	routeFile  string // the kernel's IPv4 routing table, /proc/net/route
	interfaces func() ([]netInterface, error)
	// command says whether the data directory may be the system
	// service's (LoadCommand).
	command bool
	euid    int // the user the process runs as, for command
}

func (l loader) load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c, _, err := l.loadOrigin(args, getenv, stderr)
	return c, err
}

func (l loader) loadOrigin(args []string, getenv func(string) string, stderr io.Writer) (Config, DataDirOrigin, error) {
	flags, err := l.parseFlags(args, getenv, stderr)
	if err != nil {
		return Config{}, DataDirOrigin{}, err
	}
	c, set, err := readSettings(flags, getenv)
	if err != nil {
		return Config{}, DataDirOrigin{}, err
	}
	ovos, err := readMycroftStack(mycroftPaths(getenv))
	if err != nil {
		return Config{}, DataDirOrigin{}, err
	}
	origin, err := l.fillIn(&c, ovos, getenv)
	if err != nil {
		return Config{}, DataDirOrigin{}, err
	}
	// OVOS's default is true without a key, where it has no effect, and
	// false with one: false does for both.
	if _, ok := set["bus_allow_unencrypted"]; !ok && !flags.Changed(flagName("bus_allow_unencrypted")) && ovos.allowUnencrypted != nil {
		c.BusAllowUnencrypted = *ovos.allowUnencrypted
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
	c.LogLevel = strings.ToLower(c.LogLevel)

	if err := c.Validate(); err != nil {
		// Where each value was set, for the person to correct it there.
		var errs []error
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = joined.Unwrap()
		}
		for _, e := range errs {
			if e, ok := e.(*SettingError); ok {
				if flags.Changed(flagName(e.Setting)) {
					e.from(FromFlag, "--"+flagName(e.Setting))
				} else if o, ok := set[e.Setting]; ok {
					e.from(o.from, o.source)
				}
			}
		}
		return Config{}, DataDirOrigin{}, err
	}
	return c, origin, nil
}

// origin is where a setting's value was set: a file or the environment.
type origin struct {
	from   Origin
	source string
}

// parseFlags parses serve's command line. With -h or --help it writes the
// usage to stderr and returns ErrHelp.
func (l loader) parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*pflag.FlagSet, error) {
	flags := newFlagSet(i18n.For(i18n.Fallback))
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stderr, usage(i18n.For(l.lang(args, getenv))))
			return nil, ErrHelp
		}
		return nil, flagError(err)
	}
	// "--embedded-bus host:port", with a space, as before the flag could
	// stand alone: the word after it is its value when it is an address.
	if eb := flags.Lookup("embedded-bus"); eb.Changed && eb.Value.String() == EmbeddedAuto && flags.NArg() > 0 {
		if err := checkHostPort(flags.Arg(0)); err != nil {
			e := settingError("embedded_bus", err)
			e.from(FromFlag, "--embedded-bus")
			return nil, e
		}
		if err := eb.Value.Set(flags.Arg(0)); err != nil {
			return nil, err
		}
		if err := flags.Parse(flags.Args()[1:]); err != nil {
			return nil, flagError(err)
		}
	}
	if flags.NArg() > 0 {
		return nil, &SettingError{Value: flags.Arg(0), Problem: ProblemArgument, Err: fmt.Errorf("unexpected argument %q", flags.Arg(0))}
	}
	return flags, nil
}

// flagError is the error of parsing serve's flags: a value a flag does
// not take is a *SettingError of its setting; pflag's others, an unknown
// flag or one without its value, are typed already.
func flagError(err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return err
	}
	key := strings.ReplaceAll(bad.GetFlag().Name, "-", "_")
	e := &SettingError{Setting: key, From: FromFlag, Source: "--" + bad.GetFlag().Name, Value: bad.GetValue(), Problem: ProblemInvalid, Err: err}
	e.describe()
	return e
}

// readSettings merges the parsed flags, ovos-oauth's config files and the
// environment into a Config, and returns it with the keys that a file or
// the environment set, and where.
func readSettings(flags *pflag.FlagSet, getenv func(string) string) (Config, map[string]origin, error) {
	// Viper's own order does the rest: a changed flag beats the config
	// layer, which beats a flag's default. Files and then the environment
	// are merged into the config layer, so the environment beats the files.
	// The environment is not bound with AutomaticEnv, which would read the
	// process's environment instead of getenv.
	v := viper.New()
	for _, k := range keys {
		if err := v.BindPFlag(k, flags.Lookup(flagName(k))); err != nil {
			return Config{}, nil, err
		}
	}
	explicit, _ := flags.GetString("config")
	if explicit == "" {
		explicit = getenv(envConfig)
	}
	files, err := configFiles(explicit, getenv)
	if err != nil {
		return Config{}, nil, err
	}
	set := make(map[string]origin)
	for _, f := range files {
		m, err := readConfigFile(f)
		if err != nil {
			return Config{}, nil, err
		}
		if err := v.MergeConfigMap(m); err != nil {
			return Config{}, nil, fmt.Errorf("config file %s: %w", f, err)
		}
		for k := range m {
			set[k] = origin{FromFile, f}
		}
	}
	env, err := envSettings(getenv)
	if err != nil {
		return Config{}, nil, err
	}
	for k := range env {
		set[k] = origin{FromEnv, envName(k)}
	}
	if err := v.MergeConfigMap(env); err != nil {
		return Config{}, nil, fmt.Errorf("environment: %w", err)
	}
	var c Config
	if err := v.UnmarshalExact(&c, viper.DecodeHook(durationHook)); err != nil {
		return Config{}, nil, fmt.Errorf("settings: %w", decodeError(err))
	}
	return c, set, nil
}

// fillIn gives the settings left empty their values from the OVOS
// configuration or this machine, and makes the paths absolute. It says
// how it chose the data directory.
func (l loader) fillIn(c *Config, ovos mycroftConf, getenv func(string) string) (DataDirOrigin, error) {
	if c.EmbeddedBus == EmbeddedAuto {
		// Host the bus where the daemon would otherwise look for it.
		u := c.BusURL
		if u == "" {
			u = ovos.busURL()
		}
		addr, err := listenAddrOf(u)
		if err != nil {
			return DataDirOrigin{}, &SettingError{Setting: "bus_url", Value: bus.RedactURL(u), Problem: ProblemInvalid, Want: WantBusURL,
				Err: fmt.Errorf("embedded_bus: %w", err)}
		}
		c.EmbeddedBus = addr
	}
	if c.BusURL == "" {
		if u, ok := embeddedBusURL(c.EmbeddedBus); ok {
			c.BusURL = u
		} else {
			c.BusURL = ovos.busURL()
		}
	}
	if c.Listen == "" {
		c.Listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(ovos.listenPort()))
	}
	origin := DataDirOrigin{Source: DataDirSet}
	if c.DataDir == "" {
		c.DataDir, origin = l.findDataDir(getenv)
	}
	c.DataDir = absPath(c.DataDir)
	if c.QRDir == "" {
		c.QRDir = defaultQRDir(getenv)
	}
	c.QRDir = absPath(c.QRDir)
	if c.SecretsKeyFile == "" {
		c.SecretsKeyFile = defaultKeyFile(getenv, c.DataDir)
	}
	c.SecretsKeyFile = absPath(c.SecretsKeyFile)
	c.ImportFrom = absPath(c.ImportFrom)
	if c.PublicHost == "" {
		c.PublicHost = l.publicHost()
	}
	if c.BusSecretKey == "" && ovos.secretKey != nil {
		// Checked here, where the file that set it is known.
		if err := checkSecretKey(*ovos.secretKey); err != nil {
			e := err.(*SettingError)
			e.Setting, e.From, e.Source = "websocket.secret_key", FromFile, ovos.secretKeyFile
			e.Err = fmt.Errorf("websocket.secret_key in %s: %w", ovos.secretKeyFile, e.Err)
			return DataDirOrigin{}, e
		}
		c.BusSecretKey = *ovos.secretKey
	}
	if c.Lang == "" {
		c.Lang = ovos.language()
	}
	return origin, nil
}

// usage is serve's --help in the language of p: the text above the flags,
// then the flags.
func usage(p *i18n.Printer) string {
	return p.Text(i18n.CLIUsageServe) + "\n\n" + p.Text(i18n.CLIUsageFlags) + "\n" + FlagUsages(p, newFlagSet(p))
}

// newFlagSet makes serve's flags, described in the language of p.
func newFlagSet(p *i18n.Printer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("ovos-oauth serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	// load writes the usage once it knows the language.
	fs.Usage = func() {}

	// Defaults that depend on the machine are filled after merging, so
	// their flags default to empty and say where the value comes from.
	// The other defaults live here alone: viper falls back to them.
	fs.String("config", "", p.Text(i18n.CLIFlagServeConfig))
	fs.String("bus-url", "", p.Text(i18n.CLIFlagServeBusURL))
	fs.String("embedded-bus", "", p.Text(i18n.CLIFlagServeEmbeddedBus))
	fs.Lookup("embedded-bus").NoOptDefVal = EmbeddedAuto
	fs.String("data-dir", "", p.Text(i18n.CLIFlagServeDataDir))
	fs.String("listen", "", p.Text(i18n.CLIFlagServeListen))
	fs.String("public-host", "", p.Text(i18n.CLIFlagServePublicHost))
	fs.String("qr-dir", "", p.Text(i18n.CLIFlagServeQRDir))
	fs.Duration("flow-ttl", 10*time.Minute, p.Text(i18n.CLIFlagServeFlowTTL))
	warning := durationValue(14 * 24 * time.Hour)
	fs.Var(&warning, "reauth-warning", p.Text(i18n.CLIFlagServeReauthWarning))
	fs.String("log-format", "text", p.Text(i18n.CLIFlagServeLogFormat))
	fs.String("log-level", "info", p.Text(i18n.CLIFlagServeLogLevel))
	fs.Bool("mirror-ovos-utils", true, p.Text(i18n.CLIFlagServeMirrorOvosUtils))
	fs.String("relay-url", "", p.Text(i18n.CLIFlagServeRelayURL))
	fs.String("secrets-key-file", "", p.Text(i18n.CLIFlagServeSecretsKeyFile))
	fs.String("bus-secret-key", "", p.Text(i18n.CLIFlagServeBusSecretKey))
	fs.Bool("bus-allow-unencrypted", false, p.Text(i18n.CLIFlagServeBusAllowUnencrypted))
	fs.String("import-from", "", p.Text(i18n.CLIFlagServeImportFrom))
	fs.Bool("import-on-start", true, p.Text(i18n.CLIFlagServeImportOnStart))
	fs.String("metrics-listen", "", p.Text(i18n.CLIFlagServeMetricsListen))
	fs.String("lang", "", p.Text(i18n.CLIFlagServeLang))
	return fs
}

// Lang returns the language tag of a command's output: the lang Load
// finds, reading of args only --config and --lang, so that a command
// knows it before it parses its other flags, which may not be serve's,
// and speaks it in its --help and usage errors too. When the settings do
// not load, it is the first lang that one of their sources sets, read on
// its own, so that the command's own Load can say why in that language;
// "" (for English) if none does.
func Lang(args []string, getenv func(string) string) string {
	return defaultLoader().lang(args, getenv)
}

func (l loader) lang(args []string, getenv func(string) string) string {
	var conf []string
	for i := 0; i < len(args); i++ {
		name, value, ok := strings.Cut(args[i], "=")
		if name == "--" {
			break
		}
		if name != "--config" && name != "--lang" {
			continue
		}
		if !ok {
			if i+1 == len(args) {
				break
			}
			i++
			value = args[i]
		}
		// One word, so that a value never reads as a flag.
		conf = append(conf, name+"="+value)
	}
	c, err := l.load(conf, getenv, io.Discard)
	if err != nil {
		return langOf(conf, getenv)
	}
	return c.Lang
}

// langOf is the lang of the settings that conf (--config and --lang) and
// the environment name, for settings that do not load: each source read
// on its own, in Load's order, passing over those that do not read or set
// none that checkLang accepts.
func langOf(conf []string, getenv func(string) string) string {
	flags := newFlagSet(i18n.For(i18n.Fallback))
	_ = flags.Parse(conf) // only --config and --lang: an error leaves them unset
	lang, _ := flags.GetString("lang")
	explicit, _ := flags.GetString("config")
	if explicit == "" {
		explicit = getenv(envConfig)
	}
	files, _ := configFiles(explicit, getenv)
	mycroft := mycroftPaths(getenv)
	found := []func() string{
		func() string { return lang },
		func() string { return getenv(envName("lang")) },
	}
	for _, f := range slices.Backward(files) {
		found = append(found, func() string { return configFileLang(f) })
	}
	for _, f := range slices.Backward(mycroft) {
		found = append(found, func() string { return mycroftLang(f) })
	}
	for _, lang := range found {
		if l := lang(); l != "" && checkLang(l) == nil {
			return l
		}
	}
	return ""
}

// configFileLang is the lang an ovos-oauth config file sets, "" if none
// or the file does not read.
func configFileLang(path string) string {
	typ, ok := configType(path)
	data, err := os.ReadFile(path)
	if !ok || err != nil {
		return ""
	}
	v := viper.New()
	v.SetConfigType(typ)
	if v.ReadConfig(bytes.NewReader(data)) != nil {
		return ""
	}
	s, _ := v.Get("lang").(string)
	return s
}

// configFiles lists the config files to read, lowest precedence first. An
// explicit file is the only one; reading it fails if it does not exist.
func configFiles(explicit string, getenv func(string) string) ([]string, error) {
	if explicit != "" {
		return []string{explicit}, nil
	}
	sys := getenv(envSystemConfigDir)
	if sys == "" {
		sys = "/etc/ovos-oauth"
	}
	dirs := []string{sys}
	if home := xdgConfigHome(getenv); home != "" {
		dirs = append(dirs, filepath.Join(home, "ovos-oauth"))
	}
	var files []string
	for _, d := range dirs {
		f, err := findConfigFile(d)
		if err != nil {
			return nil, err
		}
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// findConfigFile returns the first of config.yaml, config.yml and
// config.json in dir, or "" if there is none.
func findConfigFile(dir string) (string, error) {
	for _, ext := range []string{"yaml", "yml", "json"} {
		p := filepath.Join(dir, "config."+ext)
		_, err := os.Stat(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", &FileError{Path: p, Problem: FileUnreadable, Err: fmt.Errorf("config file: %w", err)}
		}
	}
	return "", nil
}

// readConfigFile returns the settings a YAML or JSON file sets, leaving out
// empty ones so that "" means the default everywhere. It rejects a key that
// is not a setting, naming it, and a value of the wrong type.
func readConfigFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{Path: path, Problem: FileUnreadable, Err: fmt.Errorf("read config file: %w", err)}
	}
	typ, ok := configType(path)
	if !ok {
		return nil, &FileError{Path: path, Problem: FileName, Err: fmt.Errorf("config file %s: name does not end in .yaml, .yml or .json", path)}
	}
	fv := viper.New()
	fv.SetConfigType(typ)
	if err := fv.ReadConfig(bytes.NewReader(data)); err != nil {
		e := syntaxError(strings.ToUpper(typ), data, err, fmt.Errorf("config file %s: %w", path, err))
		e.Path = path
		return nil, e
	}
	m := make(map[string]any)
	var unknown []string
	for _, k := range fv.AllKeys() {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
			continue
		}
		if val := fv.Get(k); val != nil && val != "" {
			m[k] = val
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &SettingError{Setting: strings.Join(unknown, ", "), From: FromFile, Source: path, Problem: ProblemUnknown,
			Err: fmt.Errorf("config file %s: unknown key %s", path, strings.Join(unknown, ", "))}
	}
	for _, k := range secretKeys {
		// The decoder's error for a list or a number would quote it.
		if val, ok := m[k]; ok {
			if _, ok := val.(string); !ok {
				e := &SettingError{Setting: k, From: FromFile, Source: path, Problem: ProblemInvalid,
					Err: fmt.Errorf("config file %s: %s: not a string (quote it)", path, k)}
				e.describe()
				return nil, e
			}
		}
	}
	if err := decodeCheck(m); err != nil {
		return nil, decodeSettingErrors(fmt.Errorf("config file %s: %w", path, err), err, m, FromFile, path)
	}
	return m, nil
}

// configType is the format of ovos-oauth's config file at path, as viper
// names it, by the end of its name.
func configType(path string) (string, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return "yaml", true
	case ".json":
		return "json", true
	}
	return "", false
}

// envSettings returns the settings given as OVOS_OAUTH_* variables; an empty
// variable is unset. A value that does not decode is an error naming the
// variable.
func envSettings(getenv func(string) string) (map[string]any, error) {
	m := make(map[string]any)
	for _, k := range keys {
		name := envName(k)
		s := getenv(name)
		if s == "" {
			continue
		}
		one := map[string]any{k: s}
		if err := decodeCheck(one); err != nil {
			return nil, decodeSettingErrors(fmt.Errorf("%s: %w", name, err), err, one, FromEnv, name)
		}
		m[k] = s
	}
	return m, nil
}

// decodeCheck decodes one source's settings on their own, so that a value
// that does not fit its key is reported with the source it came from.
func decodeCheck(m map[string]any) error {
	v := viper.New()
	if err := v.MergeConfigMap(maps.Clone(m)); err != nil {
		return err
	}
	var c Config
	return decodeError(v.UnmarshalExact(&c, viper.DecodeHook(durationHook)))
}

// durationHook parses a string into a time.Duration, replacing viper's hook,
// whose error leaves out the value.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	return parseDuration(data.(string))
}

// parseDuration reads a Go duration (90s, 10m, 72h) or a whole number of
// days (14d), as people count the time before a login ends.
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err == nil {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 90s, 10m or 14d", s)
	}
	return d, nil
}

// durationValue is a flag of a duration that may be given in days (14d).
// viper reads it as the text it shows, which durationHook parses.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// String shows whole days as days: the default reads "14d".
func (d *durationValue) String() string {
	v := time.Duration(*d)
	if v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

// Type is not "duration", which viper would read with time.ParseDuration
// and so lose the days.
func (d *durationValue) Type() string { return "days" }

// decodeError drops the preamble mapstructure puts before its list of
// errors, each of which names its key.
func decodeError(err error) error {
	if err == nil {
		return nil
	}
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "decoding failed") {
		return inner
	}
	return err
}

// EmbeddedAuto, as embedded_bus (and what --embedded-bus alone means),
// hosts the bus at the address of bus_url, else of mycroft.conf's websocket
// block, else 127.0.0.1:8181.
const EmbeddedAuto = "auto"

// listenAddrOf is the host:port to listen at for a bus URL.
func listenAddrOf(busURL string) (string, error) {
	u, err := url.Parse(busURL)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("cannot host the bus at %s", bus.RedactURL(busURL))
	}
	port := u.Port()
	if port == "" {
		port = "8181"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// embeddedBusURL is the URL at which this process reaches a bus it hosts at
// addr.
func embeddedBusURL(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	return "ws://" + net.JoinHostPort(clientHost(host), port) + "/core", true
}

// defaultKeyFile is the key file systemd's LoadCredential= (or
// SetCredential=) hands over as ovos-oauth.key, if it does, else
// secrets.key in the data directory; empty without either.
// defaultQRDir is a folder of this user's under the temporary directory:
// the data directory is private (0700), and the GUI that shows the images
// may run as another user. qr.Dir refuses it if another user made it first.
func defaultQRDir(getenv func(string) string) string {
	tmp := getenv("TMPDIR")
	if !filepath.IsAbs(tmp) {
		tmp = "/tmp"
	}
	return filepath.Join(tmp, "ovos-oauth-"+strconv.Itoa(os.Getuid()), "qr")
}

func defaultKeyFile(getenv func(string) string, dataDir string) string {
	if d := getenv("CREDENTIALS_DIRECTORY"); d != "" {
		p := filepath.Join(d, "ovos-oauth.key")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "secrets.key")
}

// absPath makes p absolute against the working directory; "" stays "".
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
