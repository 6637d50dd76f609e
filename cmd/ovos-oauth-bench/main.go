// Command ovos-oauth-bench measures an OAuth daemon of the OVOS messagebus
// (ovos-oauth, or the Python plugin it replaces) as skills use it: it
// attaches to the bus as skills do, sends requests at a given concurrency,
// matches each reply to its request, and prints the latency percentiles,
// the throughput, the replies lost, and the daemon's CPU and memory, beside
// the floor: a no-op echo across the same bus.
//
// It can host the bus itself (an OVOS-compatible one with Nagle's algorithm
// on, as ovos-messagebus has) and start the daemon as a child process, so
// that anyone can measure without OVOS installed:
//
//	ovos-oauth-bench -host-bus 127.0.0.1:0 -c 1,8 -- \
//		bin/ovos-oauth serve --bus-url {bus} --listen 127.0.0.1:0 --public-host 127.0.0.1 …
//
// See ovos-oauth-bench -h, and make bench.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ovos-oauth-bench:", err)
		os.Exit(1)
	}
}

// The request kinds, in the table's order.
const (
	kindEcho      = "echo"
	kindHostInfo  = "host.info"
	kindGet       = "get"
	kindTokenGet  = "token.get"
	kindRegister  = "register"
	kindQR        = "qr"
	kindUnhandled = "unhandled"
	kindPreload   = "preload" // the registrations of -preload, a row of its own
)

var allKinds = []string{kindEcho, kindHostInfo, kindGet, kindTokenGet, kindRegister, kindQR, kindUnhandled}

// options are the command line.
type options struct {
	busURL    string
	hostBus   string
	cs        []int
	n         int
	duration  time.Duration
	kinds     []string
	timeout   time.Duration
	pid       int
	json      bool
	preload   int
	starts    int
	wait      time.Duration
	unhandled int
	idle      time.Duration
	daemon    []string // the daemon's command line, {bus} replaced by the bus URL
}

const usage = `Usage: ovos-oauth-bench [flags] [-- daemon command line]

Attaches to an OVOS messagebus as skills do and measures the OAuth daemon on
it: for each request kind and concurrency, latency percentiles of the
replies, replies per second, lost replies (none within -timeout), and with
the daemon's pid its CPU (utime+stime) per 1,000 requests and its RSS.

Kinds (-kinds, in this order):
  echo       bench.echo, answered by the bench's own second client: the floor
  host.info  oauth.get.app.host.info -> oauth.app.host.info.response
  get        oauth.get -> oauth.url
  token.get  oauth.token.get -> oauth.token.get.response, after one real
             login against an OAuth provider the bench serves on 127.0.0.1
             (the daemon's public host must be reachable: 127.0.0.1)
  register   oauth.register of a new app each time -> oauth.register.response
  qr         oauth.generate.qr.request -> oauth.generate.qr.response
  unhandled  -unhandled frames of a type nobody handles, each sent once the
             bus has relayed the one before, then one host.info; CPU is
             per 1,000 of those frames (run once, at c=1)

With a daemon command after --, the bench starts it (replacing {bus} in its
arguments with the bus URL), waits for its oauth.ping, measures it, and
stops it with SIGTERM at the end; -pid is then the child's.

Flags:
`

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("ovos-oauth-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var cs, kinds string
	fs.StringVar(&o.busURL, "bus", "", "URL of the bus to attach to (default: the hosted bus with -host-bus, else ws://127.0.0.1:8181/core)")
	fs.StringVar(&o.hostBus, "host-bus", "", "host an OVOS-compatible bus with Nagle's algorithm on (as ovos-messagebus) at `host:port` (:0 for any port)")
	fs.StringVar(&cs, "c", "1", "comma-separated `concurrencies`: that many clients, each with one request in flight")
	fs.IntVar(&o.n, "n", 1000, "requests per kind and concurrency (0: run for -d instead)")
	fs.DurationVar(&o.duration, "d", 0, "run each kind and concurrency this long instead of -n requests")
	fs.StringVar(&kinds, "kinds", strings.Join(allKinds, ","), "comma-separated request `kinds` to run")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "a request without a reply this long is lost (skills wait 3s)")
	fs.IntVar(&o.pid, "pid", 0, "`pid` of the daemon, for its CPU and RSS from /proc")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.IntVar(&o.preload, "preload", 0, "register this many apps before measuring (a row of its own, at the highest -c)")
	fs.IntVar(&o.starts, "starts", 0, "with a daemon command: restart it this many times after -preload and report the median exec -> oauth.ping")
	fs.DurationVar(&o.wait, "wait", 30*time.Second, "how long to wait for the daemon to be up")
	fs.IntVar(&o.unhandled, "unhandled", 50000, "frames for the unhandled kind (CPU is read in 10 ms ticks: 50,000 frames resolve 0.2 ms per 1,000)")
	fs.DurationVar(&o.idle, "idle", 0, "with the daemon's pid: also sample its memory this long after the preload and after the last row, once it has settled")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.daemon = fs.Args()
	var err error
	if o.cs, err = parseConcurrencies(cs); err != nil {
		return o, err
	}
	if o.kinds, err = parseKinds(kinds); err != nil {
		return o, err
	}
	switch {
	case o.n < 0 || o.preload < 0 || o.starts < 0 || o.idle < 0:
		return o, errors.New("-n, -preload, -starts and -idle cannot be negative")
	case o.unhandled < 1:
		return o, errors.New("-unhandled must be positive")
	case o.n == 0 && o.duration <= 0:
		return o, errors.New("-n 0 needs a duration (-d)")
	case o.timeout <= 0:
		return o, errors.New("-timeout must be positive")
	case o.starts > 0 && len(o.daemon) == 0:
		return o, errors.New("-starts needs the daemon's command line after --")
	case o.pid != 0 && len(o.daemon) > 0:
		return o, errors.New("-pid and a daemon command: the bench knows its child's pid")
	}
	if o.busURL == "" && o.hostBus == "" {
		o.busURL = "ws://127.0.0.1:8181/core"
	}
	return o, nil
}

// parseConcurrencies reads -c.
func parseConcurrencies(cs string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(cs, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("-c %q: want positive integers separated by commas", cs)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseKinds reads -kinds, and returns each kind once, in the table's
// order whatever the order given.
func parseKinds(kinds string) ([]string, error) {
	var out []string
	for k := range strings.SplitSeq(kinds, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(allKinds, k) {
			return nil, fmt.Errorf("-kinds: unknown kind %q, want some of %s", k, strings.Join(allKinds, ","))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(allKinds, a) - slices.Index(allKinds, b) })
	return out, nil
}

// run is main without the process: tests call it with their own arguments
// and writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opt, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	// The child's output and the bench's own messages share stderr.
	b := &bench{opt: opt, stderr: &lockedWriter{w: stderr}}
	rep, runErr := b.run(ctx)
	if len(rep.Rows) > 0 || rep.Startup != nil || len(rep.Memory) > 0 {
		if opt.json {
			err = writeJSON(stdout, rep)
		} else {
			err = writeTable(stdout, rep.Rows)
			if s := rep.Startup; s != nil && err == nil {
				_, err = fmt.Fprintf(stdout, "\nexec -> oauth.ping: median %.1f ms of %d starts with %d apps registered by the bench (%s ms)\n",
					s.Median, len(s.Samples), s.Apps, joinFloats(s.Samples))
			}
			if len(rep.Memory) > 0 && err == nil {
				_, _ = fmt.Fprintln(stdout)
				err = writeMemory(stdout, rep.Memory)
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	if err != nil {
		return fmt.Errorf("write the results: %w", err)
	}
	var lost, failed int
	for _, r := range rep.Rows {
		lost += r.Lost
		failed += r.Errors
	}
	if lost > 0 || failed > 0 {
		return fmt.Errorf("%d requests got no reply within %v, %d replies had an error", lost, opt.timeout, failed)
	}
	return nil
}

// lockedWriter serialises writes: os/exec copies a child's output from a
// goroutine of its own when the writer is not a file.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func joinFloats(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strings.Join(s, ", ")
}
