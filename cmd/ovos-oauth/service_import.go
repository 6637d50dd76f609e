package main

// "ovos-oauth import --service": the import of the system unit, run as root
// before the daemon (ExecStartPre=+). The daemon runs as ovos-oauth, which
// cannot read the home of the user that runs OVOS (0700 on Debian 12 and
// Raspberry Pi OS), nor should it be able to. Root does not read those files
// either: it finds the folder, then runs two steps of this program, each in
// a process of its own with the rights it needs and no more, joined by a
// pipe:
//
//	store step, as the owner of the data dir: opens the database and says
//	    on fd 3 whether it wants an import (with --if-empty, only while it
//	    has no apps); then reads the files' entries on stdin, imports and
//	    logs them;
//	read step, as the owner of the folder (never root): reads the two
//	    files under json_database's lock and writes their entries to the
//	    pipe.
//
// The root process parses none of the files and opens nothing in a user's
// home; a folder whose owner is root is not read.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/OpenVoiceOS/ovos-oauth/internal/config"
	"github.com/OpenVoiceOS/ovos-oauth/internal/i18n"
	"github.com/OpenVoiceOS/ovos-oauth/internal/migrate"
	"github.com/OpenVoiceOS/ovos-oauth/internal/store"
)

// maxBundle bounds what the store step reads from the read step: the files
// of 10,000 apps are a few MB.
const maxBundle = 256 << 20

// importBundle is what the read step hands the store step.
type importBundle struct {
	// Files are the files read; nil when no folder was found or read.
	Files *migrate.Files `json:"files,omitempty"`
	// Looked says where the files were looked for.
	Looked []string `json:"looked,omitempty"`
	// Err says why no folder was found or read, "" when none was there.
	Err string `json:"error,omitempty"`
	// Text is Err in the import's language, for a person, when the step
	// that wrote the bundle has it in words of its own; the log keeps Err.
	Text string `json:"text,omitempty"`
}

// errRootFolder is the error of folderOwner for a folder of root's.
var errRootFolder = errors.New("the folder is root's")

// serviceSystem is what importService uses of the machine.
type serviceSystem struct {
	host migrate.Host
	// root says whether the steps run as other users: only root can.
	root bool
	// command runs this program with args and the environment env.
	command func(args, env []string) *exec.Cmd
}

// serviceHost is this machine; tests replace it.
var serviceHost = serviceSystem{host: migrate.SystemHost(), root: os.Geteuid() == 0, command: selfCommand}

// selfCommand runs this program's executable.
func selfCommand(args, env []string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	return cmd
}

// runAs makes cmd run as uid and gid, without supplementary groups, when
// this process can change users; as itself otherwise.
func (s serviceSystem) runAs(cmd *exec.Cmd, uid, gid uint32) {
	if !s.root || (uid == 0 && gid == 0) {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
}

// importService imports the plugin's files of the user that runs OVOS (or
// import_from's) into the store in cfg.DataDir, as the package comment
// says.
func importService(cfg config.Config, ifEmpty bool, getenv func(string) string, stdout, stderr io.Writer, sys serviceSystem) error {
	if _, ok := stderr.(*os.File); !ok {
		// The steps write to it at once, each through a goroutine of
		// os/exec; a file they would share as it is.
		stderr = &syncWriter{w: stderr}
	}
	logger := newLogger(cfg, stderr).With("component", "import")
	t := i18n.For(cfg.Lang)
	fi, err := os.Stat(cfg.DataDir)
	if err != nil {
		return &textError{t.Text(i18n.CLIImportDataDir, "err", err.Error()), err}
	}
	storeOwner := fi.Sys().(*syscall.Stat_t)
	storeStep, readyR, dataW, err := sys.startStoreStep(t, cfg, ifEmpty, stdout, stderr, storeOwner.Uid, storeOwner.Gid)
	if err != nil {
		return err
	}
	defer readyR.Close()
	defer dataW.Close()
	wait := func() error {
		if err := storeStep.Wait(); err != nil {
			return &textError{t.Text(i18n.CLIImportStepStoreFailed, "err", err.Error()), fmt.Errorf("import: the step that writes the database: %w", err)}
		}
		return nil
	}
	if ready, _ := bufio.NewReader(readyR).ReadString('\n'); ready != "ready\n" {
		return wait() // the store has apps, or failed and said why
	}

	found, b, ok := sys.locate(t, cfg.ImportFrom)
	if !ok {
		werr := json.NewEncoder(dataW).Encode(b)
		dataW.Close()
		return errors.Join(wait(), werr)
	}
	readStep, err := sys.startReadStep(found, getenv, dataW, stderr)
	if err != nil {
		b.Err = fmt.Sprintf("cannot start the step that reads %s: %v", found.Dir, err)
		b.Text = t.Text(i18n.CLIImportStepStartRead, "dir", found.Dir, "err", err.Error())
		werr := json.NewEncoder(dataW).Encode(b)
		dataW.Close()
		return errors.Join(wait(), werr)
	}
	dataW.Close()
	rerr := readStep.Wait()
	if rerr != nil {
		logger.Error("the step that reads ovos-PHAL-plugin-oauth's files failed", "dir", found.Dir, "err", rerr)
		rerr = &textError{t.Text(i18n.CLIImportStepReadFailed, "dir", found.Dir, "err", rerr.Error()), fmt.Errorf("import: the step that reads %s: %w", found.Dir, rerr)}
	}
	return errors.Join(wait(), rerr)
}

// startStoreStep starts the step that writes the database, as uid and gid,
// the owner of the store. It returns the step, the pipe on which it says
// "ready" when the store is empty enough to import into, and the one on
// which it reads the bundle to import; the caller closes both.
func (s serviceSystem) startStoreStep(t *i18n.Printer, cfg config.Config, ifEmpty bool, stdout, stderr io.Writer, uid, gid uint32) (step *exec.Cmd, ready, data *os.File, err error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("import: %w", err)
	}
	dataR, dataW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, nil, nil, fmt.Errorf("import: %w", err)
	}
	args := []string{"import", "--internal-bundle", "--data-dir", cfg.DataDir, "--secrets-key-file", cfg.SecretsKeyFile,
		"--log-format", cfg.LogFormat, "--log-level", cfg.LogLevel, "--lang", cfg.Lang}
	if ifEmpty {
		args = append(args, "--if-empty")
	}
	step = s.command(args, nil)
	step.Stdin, step.Stdout, step.Stderr = dataR, stdout, stderr
	step.ExtraFiles = []*os.File{readyW}
	s.runAs(step, uid, gid)
	err = step.Start()
	dataR.Close()
	readyW.Close()
	if err != nil {
		readyR.Close()
		dataW.Close()
		return nil, nil, nil, &textError{t.Text(i18n.CLIImportStepStartStore, "err", err.Error()), fmt.Errorf("import: start the step that writes the database: %w", err)}
	}
	return step, readyR, dataW, nil
}

// locate finds the plugin's files to import: in importFrom if it is set,
// else in the home of the user that runs OVOS. Without ok, b says where it
// looked and why it found nothing to import.
func (s serviceSystem) locate(t *i18n.Printer, importFrom string) (found migrate.Found, b importBundle, ok bool) {
	var err error
	if importFrom != "" {
		b.Looked = []string{importFrom}
		found, err = folderOwner(importFrom, s.root)
		ok = err == nil
	} else {
		found, ok, b.Looked, err = s.host.Find()
	}
	if err != nil {
		b.Err = err.Error()
		if errors.Is(err, errRootFolder) {
			b.Text = t.Text(i18n.CLIImportStepRootFolder, "dir", importFrom)
		}
	}
	return found, b, ok
}

// startReadStep starts the step that reads the plugin's files found, as
// their owner, writing the bundle to data. The error is exec's.
func (s serviceSystem) startReadStep(found migrate.Found, getenv func(string) string, data *os.File, stderr io.Writer) (*exec.Cmd, error) {
	var env []string
	if tmp := getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp) // where json_database's locks are
	}
	step := s.command([]string{"import", "--internal-read", found.Dir}, env)
	step.Stdout, step.Stderr = data, stderr
	s.runAs(step, found.UID, found.GID)
	if err := step.Start(); err != nil {
		return nil, err
	}
	return step, nil
}

// folderOwner is import_from's folder with its owner, whose rights it is
// read with. As root, a folder of root's is refused: the files in a folder
// that root owns may still be a user's, through a link that user planted,
// and nothing is read with root's rights.
func folderOwner(dir string, asRoot bool) (migrate.Found, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return migrate.Found{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if asRoot && st.Uid == 0 {
		return migrate.Found{}, fmt.Errorf("%s is root's: not read with root's rights; give it to the user whose files these are: %w", dir, errRootFolder)
	}
	return migrate.Found{Dir: dir, UID: st.Uid, GID: st.Gid}, nil
}

// importReadStep is the read step: it writes the entries of the plugin's
// files in dir to stdout, or why they could not be read.
func importReadStep(dir string, rest []string, stdout io.Writer) error {
	if len(rest) > 0 {
		return usageErr("import --internal-read: unexpected argument %q", rest[0])
	}
	b := importBundle{Looked: []string{dir}}
	if f, err := migrate.Read(dir); err != nil {
		b.Err = err.Error()
	} else {
		b.Files = &f
	}
	return json.NewEncoder(stdout).Encode(b)
}

// importStoreStep is the store step. It takes no config files and no
// environment, only its flags: it may run as another user than the one
// that started it.
func importStoreStep(args []string, ifEmpty bool, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("ovos-oauth import --internal-bundle", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "", "")
	fs.StringVar(&cfg.SecretsKeyFile, "secrets-key-file", "", "")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "")
	fs.StringVar(&cfg.Lang, "lang", "", "")
	if err := fs.Parse(args); err != nil {
		return usageErr("import --internal-bundle: %v", err)
	}
	if cfg.DataDir == "" || fs.NArg() > 0 {
		return usageErr("import --internal-bundle: give --data-dir and no arguments")
	}
	logger := newLogger(cfg, stderr).With("component", "import")
	t := i18n.For(cfg.Lang)
	ready := os.NewFile(3, "ready") // ExtraFiles[0] of importService
	defer ready.Close()

	db := store.New(cfg.DBPath())
	db.KeyFile = cfg.SecretsKeyFile
	if err := db.Open(); err != nil {
		logger.Error("import of ovos-PHAL-plugin-oauth's apps failed: cannot open the database (if the daemon runs, stop it first)", "err", err)
		return &textError{t.Text(i18n.CLIImportOpen, "err", err.Error()), err}
	}
	defer db.Close()
	read := func() (migrate.Files, []string, error) {
		if _, err := io.WriteString(ready, "ready\n"); err != nil {
			return migrate.Files{}, nil, err
		}
		ready.Close()
		var b importBundle
		if err := json.NewDecoder(io.LimitReader(os.Stdin, maxBundle)).Decode(&b); err != nil {
			return migrate.Files{}, nil, &textError{t.Text(i18n.CLIImportStepNoAnswer, "err", err.Error()), fmt.Errorf("no answer from the step that reads the files: %w", err)}
		}
		switch {
		case b.Files != nil:
			return *b.Files, b.Looked, nil
		case b.Text != "":
			return migrate.Files{}, b.Looked, &textError{b.Text, errors.New(b.Err)}
		case b.Err != "":
			return migrate.Files{}, b.Looked, errors.New(b.Err)
		}
		return migrate.Files{}, b.Looked, nil // none found: not Found
	}
	if ifEmpty {
		return importIfEmpty(db, read, logger)
	}
	f, looked, err := read()
	if err != nil {
		dirs := strings.Join(looked, ", ")
		return &textError{t.Text(i18n.CLIImportStepLooked, "dirs", dirs, "err", err.Error()), fmt.Errorf("import: looked in %s: %w", dirs, logText(err))}
	}
	if !f.Found {
		fmt.Fprintln(stdout, t.Text(i18n.CLIImportNoneFound, "dirs", strings.Join(looked, ", ")))
		return nil
	}
	return importPrinted(t, db, f, cfg.DBPath(), stdout)
}

// syncWriter serializes the writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
