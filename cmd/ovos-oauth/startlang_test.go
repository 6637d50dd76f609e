package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// The errors that stop the daemon's start or a command before it does its
// work, each provoked for real, in the language of the settings: a
// person reads them, so each names what is wrong (the port, the file, the
// setting) and says what to do.

// mycroftEnv is an environment of its own whose mycroft.conf holds conf,
// as OVOS writes it, and which has no config file of ovos-oauth's; it
// returns the environment and the path of mycroft.conf.
func mycroftEnv(t *testing.T, conf string) (map[string]string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mycroft.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": path,
		"XDG_CONFIG_DIRS": t.TempDir(), envPassphrase: backupPass}, path
}

// langOf is an environment of its own whose mycroft.conf says lang.
func langOf(t *testing.T, lang string) map[string]string {
	env, _ := mycroftEnv(t, `{"lang": "`+lang+`"}`)
	return env
}

// serveFailing runs ovos-oauth serve in env, on a data directory of its
// own unless args give one, and returns the error it stops with; it fails
// the test if the daemon starts.
func serveFailing(t *testing.T, env map[string]string, args ...string) error {
	t.Helper()
	all := []string{"serve", "--listen", "127.0.0.1:0", "--public-host", "127.0.0.1", "--bus-url", "ws://127.0.0.1:1/core", "--log-format", "json"}
	if !hasFlag(args, "--data-dir") {
		dataDir := t.TempDir()
		all = append(all, "--data-dir", dataDir, "--qr-dir", filepath.Join(dataDir, "qr"))
	}
	all = append(all, args...)
	// Should it start after all, the deadline stops it and run returns nil.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, all, func(k string) string { return env[k] }, &stdout, &stderr)
	if err == nil {
		t.Fatalf("run(%q) = nil, want a start-up error; output:\n%s%s", all, stdout.String(), stderr.String())
	}
	return err
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// takenPort is the address of a port a listener of the test holds.
func takenPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// sealedStore makes a store in a data directory of its own, sealed with
// the key file beside it, and returns the directory.
func sealedStore(t *testing.T) string {
	t.Helper()
	dataDir := t.TempDir()
	db := store.New(filepath.Join(dataDir, "ovos-oauth.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

// writeFile writes data to name in a folder of its own at mode perm, and
// returns its path.
func writeFile(t *testing.T, name, data string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// hexKey is a key file's content: 64 hex digits.
var hexKey = strings.Repeat("5a", 32) + "\n"

// TestPortErrorsInLang: a port the daemon cannot listen on stops it with
// the port, why and what to do, in mycroft.conf's language.
func TestPortErrorsInLang(t *testing.T) {
	t.Parallel()
	callbacks, metrics, bus := takenPort(t), takenPort(t), takenPort(t)
	for _, tt := range []struct {
		name  string
		lang  string
		args  []string
		wants []string
	}{
		{"callback port taken", "pt-pt", []string{"--listen", callbacks}, []string{
			"não é possível receber as chamadas de retorno em " + callbacks + ": a porta está ocupada",
			"O plugin OAuth de Python ou outro ovos-oauth está a correr? Pare-o, ou escolha outra porta com --listen.",
		}},
		{"metrics port taken", "de-de", []string{"--metrics-listen", metrics}, []string{
			"kann die Metriken nicht auf " + metrics + " anbieten: der Port ist belegt. Wählen Sie mit --metrics-listen einen anderen.",
		}},
		{"bus port taken", "pt-pt", []string{"--embedded-bus", bus}, []string{
			"não é possível alojar o messagebus em " + bus + ": a porta está ocupada. O ovos-messagebus está a correr?",
			"ou escolha outro endereço com --embedded-bus",
		}},
		{"address of another device", "de-de", []string{"--listen", "192.0.2.1:36536"}, []string{
			"kann nicht auf 192.0.2.1:36536 lauschen: die Adresse gehört nicht zu diesem Gerät. Wählen Sie mit --listen eine andere",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.args[1] == "192.0.2.1:36536" {
				if ln, err := net.Listen("tcp", tt.args[1]); err == nil {
					ln.Close()
					t.Skip("this machine binds addresses it does not have (net.ipv4.ip_nonlocal_bind)")
				}
			}
			err := serveFailing(t, langOf(t, tt.lang), tt.args...)
			wantAll(t, tt.name, err.Error(), tt.wants...)
		})
	}
}

// TestMirrorWithoutHomeInLang: the ovos_utils mirror with no folder to
// write to stops the start, saying which variables to set or how to turn
// it off.
func TestMirrorWithoutHomeInLang(t *testing.T) {
	t.Parallel()
	env := langOf(t, "de-de")
	delete(env, "HOME")
	err := serveFailing(t, env)
	wantAll(t, "mirror without a home", err.Error(),
		"mirror_ovos_utils ist an, aber weder XDG_CACHE_HOME noch HOME ist gesetzt: setzen Sie eine davon, oder schalten Sie den Spiegel mit --mirror-ovos-utils=false ab.")
}

// TestKeyFileErrorsInLang: a key file that cannot seal or open the
// store stops the daemon and the commands that open the store, naming the
// file and saying what to do, and never showing the key.
func TestKeyFileErrorsInLang(t *testing.T) {
	t.Parallel()
	exposed := writeFile(t, "ovos-oauth.key", hexKey, 0o644)
	notAKey := writeFile(t, "ovos-oauth.key", "abc", 0o600)
	folder := t.TempDir()
	if err := os.Chmod(folder, 0o700); err != nil { // a key file only its owner may read, but a folder
		t.Fatal(err)
	}
	sealed := sealedStore(t)
	dbPath := filepath.Join(sealed, "ovos-oauth.db")
	wrong := writeFile(t, "wrong.key", strings.Repeat("ab", 32)+"\n", 0o600)
	missing := filepath.Join(t.TempDir(), "ovos-oauth.key")
	short := writeFile(t, "short.key", "xyz", 0o600)
	for _, tt := range []struct {
		name    string
		lang    string
		dataDir string // "" for a new one
		keyFile string
		wants   []string
	}{
		{"open to others", "pt-pt", "", exposed, []string{
			"o ficheiro de chave " + exposed + " pode ser usado por outros utilizadores (modo 0644); tem de poder ser lido só pelo seu dono",
			"Corrija com: chmod 600 " + exposed,
		}},
		{"not a key", "de-de", "", notAKey, []string{
			"die Schlüsseldatei " + notAKey + " ist nicht verwendbar: sie enthält 3 Bytes, keinen Schlüssel (32 Bytes oder 64 Hex-Ziffern).",
			"setzen Sie secrets_key_file auf eine andere Datei",
		}},
		{"a folder", "pt-pt", "", folder, []string{
			"o ficheiro de chave " + folder + " não pode ser usado: não pode ser lido (",
		}},
		{"another key", "de-de", sealed, wrong, []string{
			"die Schlüsseldatei " + wrong + " enthält einen anderen Schlüssel als den, mit dem die Datenbank " + dbPath + " versiegelt wurde",
			"stellen Sie die Schlüsseldatei wieder her, die mit dieser Datenbank gesichert wurde",
			"Die Datenbank ist unverändert.",
		}},
		{"missing", "pt-pt", sealed, missing, []string{
			"a base de dados " + dbPath + " está selada, mas o seu ficheiro de chave " + missing + " não existe",
			"restaure o ficheiro de chave da sua cópia de segurança",
		}},
		{"sealed, not a key", "de-de", sealed, short, []string{
			"die Datenbank " + dbPath + " ist mit dem Schlüssel in " + short + " versiegelt, der nicht verwendbar ist: sie enthält 3 Bytes",
			"oder stellen Sie sie aus Ihrer Sicherung wieder her",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--secrets-key-file", tt.keyFile}
			if tt.dataDir != "" {
				args = append(args, "--data-dir", tt.dataDir, "--qr-dir", filepath.Join(t.TempDir(), "qr"))
			}
			err := serveFailing(t, langOf(t, tt.lang), args...)
			wantAll(t, tt.name, err.Error(), tt.wants...)
			if strings.Contains(err.Error(), strings.TrimSpace(hexKey)) {
				t.Errorf("%s: the error shows the key: %q", tt.name, err)
			}
		})
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a key file was made for the sealed store (Stat = %v)", err)
	}

	// The commands that open the store say the same.
	env := langOf(t, "pt-pt")
	r := runEnv(env, "import", "--data-dir", sealed, "--secrets-key-file", wrong, "--from", t.TempDir()).want(t, exitFailed)
	wantAll(t, "import with another key", r.err.Error(), "o ficheiro de chave "+wrong+" tem outra chave que não aquela com que a base de dados "+dbPath+" foi selada")
	backupFile := filepath.Join(t.TempDir(), "oauth.backup")
	r = runEnv(env, "backup", backupFile, "--data-dir", sealed, "--secrets-key-file", exposed).want(t, exitFailed)
	wantAll(t, "backup with a key file open to others", r.err.Error(), "o ficheiro de chave "+exposed+" pode ser usado por outros utilizadores (modo 0644)")
	runEnv(env, "backup", backupFile, "--data-dir", sealed).want(t, exitOK)
	fresh := sealedStore(t)
	r = runEnv(env, "restore", backupFile, "--data-dir", fresh, "--secrets-key-file", wrong).want(t, exitFailed)
	wantAll(t, "restore with another key", r.err.Error(), "o ficheiro de chave "+wrong+" tem outra chave que não aquela com que a base de dados "+filepath.Join(fresh, "ovos-oauth.db")+" foi selada")
}

// TestLockedStoreInLang: a store another process holds stops the daemon
// and import, saying to stop the other one first.
func TestLockedStoreInLang(t *testing.T) {
	t.Parallel()
	dataDir := sealedStore(t)
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	held := store.New(dbPath)
	if err := held.Open(); err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	err := serveFailing(t, langOf(t, "pt-pt"), "--data-dir", dataDir, "--qr-dir", filepath.Join(dataDir, "qr"))
	wantAll(t, "serve", err.Error(), "a base de dados "+dbPath+" está bloqueada: outro ovos-oauth está a correr com esta pasta de dados. Pare-o primeiro (sudo systemctl stop ovos-oauth")
	r := runEnv(langOf(t, "de-de"), "import", "--data-dir", dataDir, "--from", t.TempDir()).want(t, exitFailed)
	wantAll(t, "import", r.err.Error(), "die Datenbank "+dbPath+" ist gesperrt: ein anderes ovos-oauth läuft mit diesem Datenverzeichnis. Stoppen Sie es zuerst")
}

// TestSettingErrorsInLang: a setting that cannot be used, from a flag, a
// variable, ovos-oauth's config file or mycroft.conf, stops the start
// with the setting, its value and where to correct it, in the language
// mycroft.conf (or the rest of the settings) says, though the settings do
// not load.
func TestSettingErrorsInLang(t *testing.T) {
	t.Parallel()
	short := writeFile(t, "config.yaml", "flow_ttl: 5\n", 0o600)
	misspelt := writeFile(t, "config.yaml", "flow_tll: 10m\n", 0o600)
	broken := writeFile(t, "config.yaml", "log_level: info\nlisten: [\n", 0o600)
	badPort, badPortPath := mycroftEnv(t, `{"lang": "de-de", "websocket": {"port": "abc"}}`)
	notJSON, notJSONPath := mycroftEnv(t, "{\"lang\": \"pt-pt\",\n  \"websocket\": {\n}}}")
	notJSON["OVOS_OAUTH_LANG"] = "pt-pt"
	envMetrics := langOf(t, "pt-pt")
	envMetrics["OVOS_OAUTH_METRICS_LISTEN"] = "nonsense"
	busKey := langOf(t, "de-de")
	busKey["OVOS_OAUTH_BUS_SECRET_KEY"] = "enc-BAD-key"
	noHome := langOf(t, "de-de")
	delete(noHome, "HOME")
	for _, tt := range []struct {
		name  string
		env   map[string]string
		args  []string
		wants []string
	}{
		{"too short, in a config file", langOf(t, "de-de"), []string{"--config", short}, []string{
			`flow_ttl: "5ns" ist zu kurz; der Wert muss mindestens 1s sein, mit Einheit (etwa 10m).`,
			"Berichtigen Sie sie in " + short + " und versuchen Sie es erneut.",
		}},
		{"unknown, in a config file", langOf(t, "pt-pt"), []string{"--config", misspelt}, []string{
			misspelt + " define flow_tll, que não é uma definição do ovos-oauth: corrija o nome ou remova-a",
		}},
		{"config file that does not parse", langOf(t, "de-de"), []string{"--config", broken}, []string{
			broken + " ist kein gültiges YAML (Zeile 2): berichtigen Sie die Datei",
		}},
		{"missing config file", langOf(t, "pt-pt"), []string{"--config", "/nonexistent/config.yaml"}, []string{
			"o ficheiro de configuração /nonexistent/config.yaml não existe: corrija --config ou OVOS_OAUTH_CONFIG",
		}},
		{"environment", envMetrics, nil, []string{
			`metrics_listen: "nonsense" não pode ser usado; tem de ser anfitrião:porta com uma porta de 0 a 65535`,
			"Corrija a variável de ambiente OVOS_OAUTH_METRICS_LISTEN e tente de novo.",
		}},
		{"flag", langOf(t, "de-de"), []string{"--relay-url", "http://relay.example/x"}, []string{
			`relay_url: "http://relay.example/x" ist nicht verwendbar; erwartet wird: die https://-Adresse der Relay-Seite`,
			"Berichtigen Sie --relay-url und versuchen Sie es erneut.",
		}},
		{"duration flag without a unit", langOf(t, "pt-pt"), []string{"--flow-ttl", "10"}, []string{
			`flow_ttl: "10" não pode ser usado; tem de ser uma duração com unidade, como 90s, 10m ou 14d.`,
			"Corrija --flow-ttl e tente de novo.",
		}},
		{"mycroft.conf", badPort, nil, []string{
			`websocket.port: "abc" ist nicht verwendbar; erwartet wird: eine Portnummer`,
			"Berichtigen Sie sie in " + badPortPath + " und versuchen Sie es erneut.",
		}},
		{"mycroft.conf that does not parse", notJSON, nil, []string{
			notJSONPath + " não é JSON válido (linha 3): corrija o ficheiro",
		}},
		{"bus key", busKey, nil, []string{
			"bus_secret_key: ein Schlüssel von 11 Bytes ist nicht verwendbar; erwartet wird: ein Text von 16, 24 oder 32 ASCII-Zeichen",
			"Berichtigen Sie die Umgebungsvariable OVOS_OAUTH_BUS_SECRET_KEY",
		}},
		{"no data directory", noHome, []string{"--data-dir", ""}, []string{
			"data_dir hat keinen Wert, und keine von STATE_DIRECTORY, XDG_STATE_HOME, HOME ist gesetzt, um einen zu finden: setzen Sie --data-dir",
		}},
		{"unknown flag", langOf(t, "pt-pt"), []string{"--bogus"}, []string{
			"opção desconhecida --bogus: ovos-oauth serve --help lista as opções.",
		}},
		{"argument", langOf(t, "de-de"), []string{"extra"}, []string{
			`unerwartetes Argument "extra": ovos-oauth serve nimmt nur Optionen`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := serveFailing(t, tt.env, tt.args...)
			wantAll(t, tt.name, err.Error(), tt.wants...)
			if strings.Contains(err.Error(), "enc-BAD-key") {
				t.Errorf("%s: the error shows the bus's key: %q", tt.name, err)
			}
		})
	}
}

// TestCommandSettingErrorsInLang: the commands that read the settings
// stop on the same errors, and on flags of their own they lack, in the
// settings' language, with the exit status of wrong usage.
func TestCommandSettingErrorsInLang(t *testing.T) {
	t.Parallel()
	short := writeFile(t, "config.yaml", "flow_ttl: 5\n", 0o600)
	want := `flow_ttl: "5ns" é demasiado curto; tem de ser pelo menos 1s, com unidade (como 10m). Corrija-a em ` + short
	for _, args := range [][]string{
		{"status", "--config", short},
		{"login", "skill", "app", "--config", short},
		{"token", "skill", "app", "--config", short},
		{"doctor", "--config", short},
		{"backup", filepath.Join(t.TempDir(), "f"), "--config", short},
		{"restore", filepath.Join(t.TempDir(), "f"), "--config", short},
	} {
		r := runEnv(langOf(t, "pt-pt"), args...).want(t, exitUsage)
		wantAll(t, args[0], r.err.Error(), want)
	}
	r := runEnv(langOf(t, "pt-pt"), "import", "--config", short).want(t, exitFailed)
	wantAll(t, "import", r.err.Error(), want)

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"login", "skill", "app", "--bogus"}, "unbekannte Option --bogus: ovos-oauth login --help listet die Optionen auf."},
		{[]string{"status", "--timeout", "5x"}, `"5x" ist kein gültiger Wert für --timeout: ovos-oauth status --help sagt, welche Werte sie nimmt.`},
		{[]string{"status", "--timeout"}, "die Option --timeout braucht einen Wert: ovos-oauth status --help sagt, welchen."},
		{[]string{"doctor", "--bogus"}, "unbekannte Option --bogus: ovos-oauth doctor --help listet die Optionen auf."},
		{[]string{"backup", "f", "--bogus"}, "unbekannte Option --bogus: ovos-oauth backup --help listet die Optionen auf."},
		{[]string{"bus", "listen", "--bogus"}, "unbekannte Option --bogus: ovos-oauth bus listen --help listet die Optionen auf."},
	} {
		r := runEnv(langOf(t, "de-de"), tt.args...).want(t, exitUsage)
		wantAll(t, strings.Join(tt.args, " "), r.err.Error(), tt.want)
	}
}

// TestMissingFilesInLang: a file a command needs and cannot find (the
// backup to restore, the key file to back up with, the database to
// check) is named in the settings' language, with what to give instead.
func TestMissingFilesInLang(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "oauth.backup")
	r := runEnv(langOf(t, "de-de"), "restore", missing, "--data-dir", t.TempDir()).want(t, exitFailed)
	wantAll(t, "restore of a missing file", r.err.Error(),
		"restore: es gibt keine Datei "+missing+": geben Sie den Pfad der Datei an, die ovos-oauth backup geschrieben hat")

	dataDir := sealedStore(t)
	key := filepath.Join(t.TempDir(), "ovos-oauth.key")
	r = runEnv(langOf(t, "pt-pt"), "backup", filepath.Join(t.TempDir(), "f"), "--data-dir", dataDir, "--secrets-key-file", key).want(t, exitFailed)
	wantAll(t, "backup without its key file", r.err.Error(), "o ficheiro de chave da base de dados: "+key+" não existe (uma base de dados")

	empty := t.TempDir()
	r = runEnv(langOf(t, "de-de"), "doctor", "--data-dir", empty).want(t, exitFailed)
	wantAll(t, "doctor without a database", r.err.Error(), "keine Datenbank unter "+filepath.Join(empty, "ovos-oauth.db")+": stimmt das Datenverzeichnis?")
}

// TestNewerStoreInLang: a database a newer release wrote stops the start,
// saying so and what to do, and stays as it was.
func TestNewerStoreInLang(t *testing.T) {
	t.Parallel()
	dataDir := sealedStore(t)
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("99")) })
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	err = serveFailing(t, langOf(t, "de-de"), "--data-dir", dataDir, "--qr-dir", filepath.Join(dataDir, "qr"))
	wantAll(t, "serve", err.Error(), "die Datenbank "+dbPath+" wurde von einem neueren ovos-oauth geschrieben (ihr Schema ist 99",
		"installieren Sie die neuere Version wieder")
}

// TestForeignStoreInLang: another program's bbolt file at the database's
// path stops the start, saying it is not ovos-oauth's and what to do, and
// stays as it was.
func TestForeignStoreInLang(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("notes"))
		if err != nil {
			return err
		}
		return b.Put([]byte("shopping"), []byte("milk"))
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	err = serveFailing(t, langOf(t, "pt-pt"), "--data-dir", dataDir, "--qr-dir", filepath.Join(dataDir, "qr"))
	wantAll(t, "serve", err.Error(), "o ficheiro "+dbPath+" não é uma base de dados do ovos-oauth", "defina data_dir para outra pasta")
	if after, _ := os.ReadFile(dbPath); !bytes.Equal(after, before) {
		t.Error("the other program's file was changed")
	}
}

// TestStoreWithoutKeyCheckInLang: a sealed database that lost its key
// check is told as a damaged file, in the settings' language.
func TestStoreWithoutKeyCheckInLang(t *testing.T) {
	t.Parallel()
	dataDir := sealedStore(t)
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	bdb, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("key_check")) })
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	err = serveFailing(t, langOf(t, "pt-pt"), "--data-dir", dataDir, "--qr-dir", filepath.Join(dataDir, "qr"))
	wantAll(t, "serve", err.Error(), "o ficheiro da base de dados "+dbPath+" está danificado", "Restaure-o")
	if !errors.Is(err, store.ErrDamagedFile) {
		t.Errorf("serve = %v, want the damaged file's error", err)
	}
}
