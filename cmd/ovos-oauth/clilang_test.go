package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/OpenVoiceOS/ovos-oauth/internal/bus/bustest"
	"github.com/OpenVoiceOS/ovos-oauth/internal/oauth"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store/storetest"
)

// langEnv is cliEnv with lang as $OVOS_OAUTH_LANG ("" for none), and the
// backup's passphrase.
func langEnv(t *testing.T, lang string) map[string]string {
	env := map[string]string{"HOME": t.TempDir(), "OVOS_OAUTH_SYSTEM_CONFIG_DIR": t.TempDir(), "MYCROFT_SYSTEM_CONFIG": "/nonexistent",
		"XDG_CONFIG_DIRS": t.TempDir(), envPassphrase: backupPass}
	if lang != "" {
		env["OVOS_OAUTH_LANG"] = lang
	}
	return env
}

// runEnv runs one command as main does with the environment env.
func runEnv(env map[string]string, args ...string) cliResult {
	var stdout, stderr syncBuffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return cliResult{stdout.String(), stderr.String(), exitCode(err), err}
}

// wantAll fails the test for each of wants that text lacks.
func wantAll(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// TestHelpInLang: every command's --help, flags included, speaks the
// language of the settings (here $OVOS_OAUTH_LANG, --lang, or
// mycroft.conf's lang): no line of the English help is left in the
// German, but for examples of commands.
func TestHelpInLang(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mycroft.conf")
	if err := os.WriteFile(conf, []byte(`{"lang": "de-de"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		// how the German is asked for: "env", "flag" (--lang de) or
		// "mycroft" (mycroft.conf's lang)
		how  string
		want string
	}{
		{[]string{"--help"}, "env", "Mit einem laufenden Daemon über den Bus sprechen:"},
		{[]string{"serve", "--help"}, "env", "Jede Option ist auch ein Schlüssel der Konfigurationsdatei"},
		{[]string{"serve", "--help"}, "flag", "Tokens in die JSON-Dateien von ovos_utils spiegeln"},
		{[]string{"status", "--help"}, "env", "Listet die Apps auf, die ovos-oauth verwaltet"},
		{[]string{"status", "--help"}, "flag", "nur die Apps dieser skill_id"},
		{[]string{"token", "--help"}, "mycroft", "Gibt ein gültiges Zugriffstoken der App aus"},
		{[]string{"revoke", "--help"}, "env", "auch die App vergessen"},
		{[]string{"login", "--help"}, "env", "keinen QR-Code zeichnen"},
		{[]string{"bus", "--help"}, "env", "Aufruf: ovos-oauth bus listen"},
		{[]string{"bus", "listen", "--help"}, "env", "nach n Nachrichten aufhören"},
		{[]string{"bus", "emit", "--help"}, "env", "Sendet eine Nachricht vom Typ TYPE"},
		{[]string{"doctor", "--help"}, "mycroft", "Stoppen Sie zuerst den Daemon"},
		{[]string{"backup", "--help"}, "env", "Bewahren Sie\nsie getrennt von der Datei auf"},
		{[]string{"restore", "--help"}, "flag", "die Registrierungen und Tokens der Sicherung ersetzen die der Datenbank"},
		{[]string{"import", "--help"}, "env", "Kopiert die Apps und Tokens von ovos-PHAL-plugin-oauth"},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ") + " (" + tt.how + ")"
		english := runEnv(langEnv(t, ""), tt.args...).want(t, exitOK)
		env, args := langEnv(t, ""), tt.args
		switch tt.how {
		case "env":
			env["OVOS_OAUTH_LANG"] = "de-de"
		case "flag":
			args = append(append([]string{}, args[:len(args)-1]...), "--lang", "de", "--help")
		case "mycroft":
			env["MYCROFT_SYSTEM_CONFIG"] = conf
		}
		r := runEnv(env, args...)
		if r.code != exitOK {
			t.Errorf("%s: exit %d (%v), want 0", name, r.code, r.err)
			continue
		}
		german := r.stdout + r.stderr
		if !strings.Contains(german, tt.want) {
			t.Errorf("%s lacks %q:\n%s", name, tt.want, german)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(german, "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		for _, l := range strings.Split(english.stdout+english.stderr, "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "ovos-oauth ") && lines[l] {
				t.Errorf("%s: the English line %q is in the German help:\n%s", name, l, german)
			}
		}
	}
}

// TestWrongUsageInLang: what a command says of wrong usage is in the
// settings' language too.
func TestWrongUsageInLang(t *testing.T) {
	t.Parallel()
	env := langEnv(t, "de-de")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "kein Befehl angegeben"},
		{[]string{"frobnicate"}, `unbekannter Befehl "frobnicate"`},
		{[]string{"token", "skill"}, "token: falsche Anzahl von Argumenten"},
		{[]string{"token", "a/b", "c"}, `"a/b" ist keine skill_id oder app_id`},
		{[]string{"status", "--timeout", "0s"}, "status: --timeout muss positiv sein"},
		{[]string{"login", "a", "b", "--client-secret", "x"}, "geben Sie auch --client-id an"},
		{[]string{"bus"}, "bus: listen oder emit?"},
		{[]string{"bus", "shout"}, `bus: unbekannter Befehl "shout": listen oder emit`},
		{[]string{"bus", "listen", "[x"}, `bus listen: ungültiges Muster "[x"`},
		{[]string{"bus", "emit", "x.y", "[1]"}, `bus emit: die Daten "[1]" sind kein JSON-Objekt`},
		{[]string{"backup"}, "geben Sie eine FILE an"},
		{[]string{"restore", "a", "b"}, "geben Sie eine FILE an"},
	} {
		r := runEnv(env, tt.args...).want(t, exitUsage)
		if !strings.Contains(r.err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.args, r.err, tt.want)
		}
	}
}

// TestBusInLang: bus listen and bus emit say what they do in the
// settings' language; the frames they print stay JSON.
func TestBusInLang(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	env := langEnv(t, "de-de")
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"bus", "listen", "test.*", "--count", "1", "--bus-url", busURL},
			func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	stderr.waitFor(t, "höre auf ")
	r := runEnv(env, "bus", "emit", "test.a", "--bus-url", busURL).want(t, exitOK)
	wantAll(t, "bus emit", r.stderr, "test.a gesendet")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop after a frame")
	}
	wantAll(t, "bus listen", stderr.String(), "höre auf ws://", " nach test.*")
	wantAll(t, "bus listen", stdout.String(), `"type":"test.a"`)

	r = runEnv(env, "bus", "emit", "test.b", "--reply", "test.never", "--timeout", "300ms", "--bus-url", busURL).want(t, exitNoDaemon)
	wantAll(t, "bus emit --reply", r.err.Error(), "bus emit: kein test.never innerhalb von 300ms")
}

// TestDamagedInLang: status's lines about damaged records, and doctor's
// report, questions and removal, speak the settings' language.
func TestDamagedInLang(t *testing.T) {
	t.Parallel()
	busURL, _ := bustest.StartHub(t)
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "ovos-oauth.db")
	d := startDaemon(t, busURL, dataDir)
	sk := newSkill(t, busURL, skillID)
	for _, a := range []string{"regapp", "flowapp"} {
		noErr(t, sk.request(t, "oauth.register", map[string]any{
			"skill_id": skillID, "app_id": a, "client_id": "web", "client_secret": secret,
			"auth_endpoint": "https://provider.invalid/authorize", "token_endpoint": "https://provider.invalid/token",
		}, "oauth.register.response"))
	}
	noErr(t, sk.request(t, "oauth.get", app("flowapp"), "oauth.url"))
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	damageRecord(t, dbPath, "apps", skillID+"_regapp")
	damageRecord(t, dbPath, "flows", flowOf(t, dbPath, skillID+"_flowapp"))
	d = startDaemon(t, busURL, dataDir)

	env := langEnv(t, "de-de")
	out := runEnv(env, "status", "--bus-url", d.busURL).want(t, exitOK).stdout
	wantAll(t, "status", out,
		"Beschädigte Einträge wurden beiseitegelegt, damit die anderen Apps weiterliefen",
		skillID+"_regapp (derzeit nicht registriert): die gespeicherte Registrierung war beschädigt (",
		"); ihr Skill registriert die App beim Start wieder",
		skillID+" flowapp: eine laufende Anmeldung war beschädigt (",
		") und wurde beendet; starten Sie sie erneut (ovos-oauth login "+skillID+" flowapp)")

	r := runEnv(env, "doctor", "--data-dir", dataDir).want(t, exitFailed)
	wantAll(t, "doctor while the daemon runs", r.err.Error(), "ist belegt, wahrscheinlich vom Daemon: stoppen Sie ihn zuerst")
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	out = runEnv(env, "doctor", "--data-dir", dataDir).want(t, exitOK).stdout
	wantAll(t, "doctor", out, " Bytes, 1 App, 0 Tokens, 0 laufende Anmeldungen",
		"die Datei ist vollständig: jede Seite ist lesbar",
		"2 beschädigte Einträge, beiseitegelegt (ihr Inhalt wird nie gezeigt):",
		"BEISEITEGELEGT", "EINTRAG", "WARUM", "FÜR DIE APP",
		"ihr Skill registriert sie wieder, dann braucht sie eine neue Anmeldung",
		"eine laufende Anmeldung wurde beendet: starten Sie sie erneut",
		"Sie bleiben in der Datei, bis Sie sie entfernen: ovos-oauth doctor --remove")
	// The table's kinds of record and reasons are German too.
	for _, re := range []string{
		`_regapp +App +seine Prüfung schlägt fehl: seine Bytes wurden verändert +ihr Skill`,
		`_flowapp +Anmeldung +seine Prüfung schlägt fehl: seine Bytes wurden verändert +eine laufende`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("doctor lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "authenticate") || strings.Contains(out, " login ") {
		t.Errorf("doctor: English words:\n%s", out)
	}
	out = runEnv(env, "doctor", "--data-dir", dataDir, "--remove").want(t, exitOK).stdout
	wantAll(t, "doctor --remove", out, "2 beschädigte Einträge entfernt")
	out = runEnv(env, "doctor", "--data-dir", dataDir).want(t, exitOK).stdout
	wantAll(t, "doctor after --remove", out, "keine beschädigten Einträge")
}

// TestBackupInLang: backup's and restore's reports, per app and in all,
// and their errors, speak the settings' language.
func TestBackupInLang(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	db := storetest.Open(t, storetest.Path(filepath.Join(dataDir, "ovos-oauth.db")))
	a := &oauth.App{SkillID: skillID, AppID: "demo", ClientID: "web", AuthEndpoint: "https://provider.invalid/authorize",
		TokenEndpoint: "https://provider.invalid/token", PKCE: true}
	err := db.PutApp(a, false)
	if err == nil {
		err = db.PutToken(a.MungedID(), &oauth.Token{AccessToken: "at", RefreshToken: "rt", Obtained: time.Now(), Expiry: time.Now().Add(time.Hour)})
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	env := langEnv(t, "de-de")
	file := filepath.Join(t.TempDir(), "oauth.backup")
	out := runEnv(env, "backup", file, "--data-dir", dataDir).want(t, exitOK).stdout
	wantAll(t, "backup", out, skillID+" demo: Token ausgestellt ",
		"gesichert: 1 App (1 Token, 0 Zugangsdaten vom Benutzer eingegeben, 0 laufende Geräteanmeldungen) aus der Datenbankdatei (kein Daemon läuft) nach "+file,
		"Bewahren Sie die Datei nicht auf diesem Gerät auf")

	fresh := t.TempDir()
	out = runEnv(env, "restore", file, "--data-dir", fresh).want(t, exitOK).stdout
	wantAll(t, "restore", out, "wiederhergestellt "+a.MungedID()+": App hinzugefügt; Token ausgestellt ",
		"1 wiederhergestellt, 0 behalten, 0 übersprungen, von 1 App der Sicherung vom ",
		"Starten Sie den Daemon wieder")
	out = runEnv(env, "restore", file, "--data-dir", fresh).want(t, exitOK).stdout
	wantAll(t, "restore again", out, "behalten          "+a.MungedID()+": das Token in dieser Datenbank ist so neu wie das der Sicherung oder neuer")

	wrong := langEnv(t, "de-de")
	wrong[envPassphrase] = "not the one"
	r := runEnv(wrong, "restore", file, "--data-dir", fresh).want(t, exitFailed)
	wantAll(t, "restore with a wrong passphrase", r.err.Error(), "restore: die Passphrase öffnet "+file+" nicht")
	delete(wrong, envPassphrase)
	r = runEnv(wrong, "restore", file, "--data-dir", fresh, "--lang", "de").want(t, exitFailed)
	wantAll(t, "restore without a passphrase", r.err.Error(), "keine Passphrase: führen Sie es in einem Terminal aus")
	r = runEnv(env, "backup", file, "--data-dir", t.TempDir()).want(t, exitFailed)
	wantAll(t, "backup without a key file", r.err.Error(), "die Schlüsseldatei der Datenbank: ")
}

// TestImportInLang: what import did with each app, and in all, is in
// the settings' language, and so is why an entry or a file was skipped.
func TestImportInLang(t *testing.T) {
	t.Parallel()
	env := importEnv(t)
	env["OVOS_OAUTH_LANG"] = "de-de"
	pluginDir := filepath.Join(env["HOME"], ".cache", "mycroft", "json_database")
	writePluginFiles(t, pluginDir, time.Now().Add(2*time.Hour), "https://provider.invalid/token")
	dataDir := t.TempDir()
	out, err := runImport(t, env, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("import error = %v; output:\n%s", err, out)
	}
	id := oauth.MungedID(skillID, importedApp)
	wantAll(t, "import", out,
		"importiere aus "+pluginDir+" nach "+filepath.Join(dataDir, "ovos-oauth.db"),
		"importiert   "+id+" (mit ihrem Token, läuft ab ",
		"importiert   skill-bare.test_notoken (kein Token: melden Sie sich erneut an)",
		`übersprungen "skill-broken.test_app" in ovos_oauth_apps.json: client_id ist kein Text`,
		`übersprungen "skill-gone.test_app" in ovos_oauth.json: keine App dieses Namens in ovos_oauth_apps.json`,
		"2 Apps importiert (1 mit Token), 0 behalten, 2 Einträge übersprungen; "+pluginDir+" wurde nicht verändert")
	out, err = runImport(t, env, "--data-dir", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, "import again", out, "behalten     "+id+": schon in der Datenbank von ovos-oauth, bleibt, wie sie ist")

	// A whole file that is not a JSON object.
	torn := t.TempDir()
	if err := os.WriteFile(filepath.Join(torn, "ovos_oauth_apps.json"), []byte("[1, 2"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runImport(t, env, "--data-dir", t.TempDir(), "--import-from", torn)
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, "import of a torn file", out, "übersprungen ovos_oauth_apps.json: kein JSON-Objekt; die Datei bleibt unverändert")
	if strings.Contains(out, "not a JSON object") {
		t.Errorf("import of a torn file: English:\n%s", out)
	}
}

// TestHelpDefaultsInLang: the defaults --help gives beside the flags are
// in the settings' language too, not pflag's English "(default 5s)".
func TestHelpDefaultsInLang(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"status", "--lang", "de-de", "--help"}, []string{"--timeout Dauer ", "(Standard: 5s)"}},
		{[]string{"login", "--lang", "de-de", "--help"}, []string{"--login-mode Text ", "--wait Dauer "}},
		{[]string{"backup", "--lang", "de-de", "--help"}, nil},
		{[]string{"serve", "--lang", "de-de", "--help"}, []string{"(Standard: 10m0s)", `(Standard: "info")`, "(Standard: true)"}},
	} {
		r := runEnv(langEnv(t, ""), tt.args...).want(t, exitOK)
		help := r.stdout + r.stderr
		wantAll(t, strings.Join(tt.args, " "), help, tt.wants...)
		for _, english := range []string{"default", " duration ", " string "} {
			if strings.Contains(help, english) {
				t.Errorf("%q: English %q:\n%s", tt.args, english, help)
			}
		}
	}
	r := runEnv(langEnv(t, ""), "status", "--help").want(t, exitOK)
	wantAll(t, "status --help", r.stderr, "--timeout duration ", "(default 5s)")
}

// TestDamagedFileInLang: a database file bbolt cannot map stops the
// daemon's start, doctor, import, backup and restore with what is wrong
// and what to do, in the settings' language.
func TestDamagedFileInLang(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		data    []byte
		problem string
	}{
		{"cut short", make([]byte, 100), "sie wurde abgeschnitten"},
		{"overwritten", bytes.Repeat([]byte{0x5a}, 3*4096), "ihre ersten Seiten wurden überschrieben, oder sie ist keine Datenbank"},
	} {
		dataDir := t.TempDir()
		dbPath := filepath.Join(dataDir, "ovos-oauth.db")
		if err := os.WriteFile(dbPath, tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		want := "die Datenbankdatei " + dbPath + " ist beschädigt: " + tt.problem + ". ovos-oauth hat sie nicht verändert."
		_, err := runFailing(t, dataDir, "--lang", "de-de")
		wantAll(t, tt.name+": serve", err.Error(), want, "mv "+dbPath+" "+dbPath+".damaged")
		env := langEnv(t, "de-de")
		for _, args := range [][]string{
			{"doctor", "--data-dir", dataDir},
			{"import", "--data-dir", dataDir, "--import-from", t.TempDir()},
		} {
			r := runEnv(env, args...).want(t, exitFailed)
			wantAll(t, tt.name+": "+args[0], r.err.Error(), want)
		}
		if got, _ := os.ReadFile(dbPath); !bytes.Equal(got, tt.data) {
			t.Errorf("%s: the damaged file was changed", tt.name)
		}
	}
}
