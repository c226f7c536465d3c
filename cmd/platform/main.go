// Command platform runs Stagebus and its operator tools.
//
//	platform [--config FILE]... [--log-format json|console|auto]   serve
//	platform config print [--config FILE]...                        print the effective config, secrets redacted
//	platform config check [--config FILE]...                        check the config, listing every problem
//	platform audit verify [--checkpoint ROWS:HASH]... [--config FILE]...  check the audit log's hash chain
//	platform health [--config FILE]...                              probe the configured server's readiness
//	platform version                                                print the version
//
// Without --config, app-config.yaml and (when present) app-config.local.yaml are read from
// the working directory. This package is the composition root: flags, fx.New, nothing else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/stagebus/stagebus/auth"
	githubsignin "github.com/stagebus/stagebus/auth/providers/github"
	"github.com/stagebus/stagebus/auth/providers/oidc"
	"github.com/stagebus/stagebus/auth/signin"
	"github.com/stagebus/stagebus/catalog"
	"github.com/stagebus/stagebus/config"
	"github.com/stagebus/stagebus/console"
	"github.com/stagebus/stagebus/console/auditpage"
	"github.com/stagebus/stagebus/console/catalogpage"
	"github.com/stagebus/stagebus/console/deadletterspage"
	"github.com/stagebus/stagebus/console/eventspage"
	"github.com/stagebus/stagebus/console/overviewpage"
	"github.com/stagebus/stagebus/database"
	"github.com/stagebus/stagebus/eventsvc"
	"github.com/stagebus/stagebus/eventsvc/deadletter"
	"github.com/stagebus/stagebus/eventsvc/ingress"
	"github.com/stagebus/stagebus/eventsvc/kafka"
	"github.com/stagebus/stagebus/eventsvc/memory"
	sqlbus "github.com/stagebus/stagebus/eventsvc/sql"
	"github.com/stagebus/stagebus/httpserver"
	"github.com/stagebus/stagebus/logging"
	"github.com/stagebus/stagebus/providers/bitbucket"
	"github.com/stagebus/stagebus/providers/gitea"
	"github.com/stagebus/stagebus/providers/github"
	"github.com/stagebus/stagebus/providers/github/discovery"
	"github.com/stagebus/stagebus/providers/gitlab"
	"github.com/stagebus/stagebus/subscribers/audit"
	"github.com/stagebus/stagebus/subscribers/recorder"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const (
	startTimeout  = 30 * time.Second
	stopTimeout   = 20 * time.Second
	healthTimeout = 3 * time.Second
)

// gcPercent is the garbage collector's heap target Stagebus runs with unless the GOGC
// environment variable sets one: the heap may grow to five times what is live before a
// collection, instead of Go's twice. Under webhook load that is 10–20% less CPU per webhook
// (docs/benchmarks.md) for a live heap of a few tens of megabytes; GOMEMLIMIT still bounds it.
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// options are the command line's flags.
type options struct {
	configs     stringList
	logFormat   string
	checkpoints stringList
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer, environ []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "platform: "+format+"\n", a...)
		return 1
	}
	var opts options
	fs := flag.NewFlagSet("platform", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&opts.configs, "config", "configuration file to read; repeat to layer files (the later wins)")
	fs.StringVar(&opts.logFormat, "log-format", string(logging.FormatAuto), "log format: json, console or auto (console on a terminal)")
	fs.Var(&opts.checkpoints, "checkpoint", "audit verify: a checkpoint ROWS:HASH kept outside the database; repeat for several")
	// Flags may come before or after the command words.
	var words []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage(stdout)
				return 0
			}
			return fail("%v; run 'platform help' for usage", err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		words, rest = append(words, rest[0]), rest[1:]
	}
	format, err := logging.ParseFormat(opts.logFormat)
	if err != nil {
		return fail("--log-format: %v", err)
	}

	if len(opts.checkpoints) > 0 && strings.Join(words, " ") != "audit verify" {
		return fail("--checkpoint is for 'platform audit verify' only")
	}
	switch strings.Join(words, " ") {
	case "":
		return serve(opts, format, stderr, environ)
	case "config print":
		return withConfig(opts, stderr, environ, func(c *config.Config) int {
			if err := c.Print(stdout); err != nil {
				return fail("config print: %v", err)
			}
			return 0
		})
	case "config check":
		return withConfig(opts, stderr, environ, func(c *config.Config) int {
			for _, w := range c.Warnings() {
				fmt.Fprintln(stderr, "warning: "+w)
			}
			fmt.Fprintf(stdout, "configuration OK (%s)\n", strings.Join(c.Tree().Files, ", "))
			return 0
		})
	case "audit verify":
		return auditVerify(opts, stdout, stderr, environ)
	case "health":
		return health(opts, stdout, stderr, environ)
	case "version":
		fmt.Fprintf(stdout, "stagebus %s (%s)\n", buildVersion(), runtime.Version())
		return 0
	case "help":
		usage(stdout)
		return 0
	}
	return fail("unknown command %q; run 'platform help' for usage", strings.Join(words, " "))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  platform [--config FILE]... [--log-format json|console|auto]   run Stagebus
  platform config print [--config FILE]...                        print the effective configuration (secrets redacted)
  platform config check [--config FILE]...                        check the configuration and list every problem
  platform audit verify [--checkpoint ROWS:HASH]... [--config FILE]...
                                                                  check the audit log's hash chain, and that it still extends each
                                                                  checkpoint kept elsewhere; exit 1 naming the first broken row
  platform health [--config FILE]...                              probe the configured server's readiness; exit 0 when ready, 1 if not
  platform version                                                print the version

Without --config, app-config.yaml and app-config.local.yaml (if present) are read.
APP_CONFIG_<key>_<key>=value overrides single keys; LOG_LEVEL sets the log level.
`)
}

// app assembles every module of Stagebus around the loaded configuration tree.
func app(tree *config.Tree, logOpts logging.Options) fx.Option {
	return fx.Options(
		fx.Supply(tree, logOpts),
		config.Module,
		logging.Module,
		httpserver.Module,
		database.Module,
		eventsvc.Module,
		memory.Module,
		kafka.Module,
		sqlbus.Module,
		deadletter.Module,
		auth.Module,
		audit.Module,
		recorder.Module,
		ingress.Module,
		catalog.Module,
		signin.Module,
		oidc.Module,
		githubsignin.Module,
		console.Module,
		overviewpage.Module,
		eventspage.Module,
		auditpage.Module,
		deadletterspage.Module,
		catalogpage.Module,
		github.Module,
		discovery.Module,
		gitlab.Module,
		bitbucket.Module,
		gitea.Module,
	)
}

// roots are what serving needs; fx builds only what they depend on. The bus comes before the
// HTTP server, so that subscriptions run before requests are accepted.
var roots = fx.Invoke(
	func(*database.DB, *eventsvc.Service, *httpserver.Server) {},
	func(c *config.Config, log zerolog.Logger) {
		for _, w := range c.Warnings() {
			log.Warn().Str("problem", w).Msg("configuration warning")
		}
	},
)

func load(opts options, environ []string) (*config.Tree, error) {
	return config.Load(opts.configs, environ)
}

// withConfig builds the whole application graph without starting it (constructors do no
// I/O), so that a check sees every module's configuration, then hands over the config.
func withConfig(opts options, stderr io.Writer, environ []string, fn func(*config.Config) int) int {
	tree, err := load(opts, environ)
	if err != nil {
		fmt.Fprintln(stderr, "platform: "+err.Error())
		return 1
	}
	var c *config.Config
	a := fx.New(app(tree, logging.Options{Out: io.Discard}), roots, fx.Populate(&c), fx.NopLogger)
	if err := a.Err(); err != nil {
		fmt.Fprintln(stderr, "platform: "+describe(err))
		return 1
	}
	return fn(c)
}

// auditVerify checks the audit log's hash chain in the configured database and that it
// extends every --checkpoint: exit 0 when it does, 1 with one line naming the first broken
// row (or the truncation). It connects (and applies pending migrations, as serving would)
// without starting anything else.
func auditVerify(opts options, stdout, stderr io.Writer, environ []string) int {
	var checkpoints []audit.Checkpoint
	for _, v := range opts.checkpoints {
		cp, err := audit.ParseCheckpoint(v)
		if err != nil {
			fmt.Fprintf(stderr, "platform: --checkpoint: %v\n", err)
			return 1
		}
		checkpoints = append(checkpoints, cp)
	}
	tree, err := load(opts, environ)
	if err != nil {
		fmt.Fprintln(stderr, "platform: "+err.Error())
		return 1
	}
	var db *database.DB
	a := fx.New(app(tree, logging.Options{Out: io.Discard}), fx.Populate(&db), fx.NopLogger)
	if err := a.Err(); err != nil {
		fmt.Fprintln(stderr, "platform: "+describe(err))
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := db.Start(ctx); err != nil {
		fmt.Fprintln(stderr, "platform: "+describe(err))
		return 1
	}
	defer db.Close()
	return audit.RunVerify(context.Background(), db, stdout, stderr, checkpoints...)
}

// health probes the readiness endpoint of the server that the configuration describes — a
// listen host of 0.0.0.0 or :: is probed on loopback — and exits 0 when it answers 200, 1
// otherwise with one line saying why. It is the container image's HEALTHCHECK, which has no
// shell or curl to run.
func health(opts options, stdout, stderr io.Writer, environ []string) int {
	tree, err := load(opts, environ)
	if err != nil {
		fmt.Fprintln(stderr, "platform: "+err.Error())
		return 1
	}
	var listen httpserver.Listen
	a := fx.New(app(tree, logging.Options{Out: io.Discard}), fx.Populate(&listen), fx.NopLogger)
	if err := a.Err(); err != nil {
		fmt.Fprintln(stderr, "platform: "+describe(err))
		return 1
	}
	host := listen.Host
	switch host {
	case "0.0.0.0", "":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(listen.Port)) + httpserver.ReadinessPath
	client := &http.Client{Timeout: healthTimeout}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "platform: not ready: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "platform: not ready: %s answered %d: %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stdout, "ready (%s)\n", url)
	return 0
}

// serve runs Stagebus until SIGINT or SIGTERM, then stops gracefully.
func serve(opts options, format logging.Format, stderr io.Writer, environ []string) int {
	tree, err := load(opts, environ)
	if err != nil {
		fmt.Fprintln(stderr, "platform: "+err.Error())
		return 1
	}
	logOpts := logging.Options{Format: format, EnvLevel: lookup(environ, "LOG_LEVEL")}
	var log zerolog.Logger
	a := fx.New(
		app(tree, logOpts),
		roots,
		fx.Populate(&log),
		fx.StartTimeout(startTimeout),
		fx.StopTimeout(stopTimeout),
		fx.NopLogger, // failures are printed by describe; fx's own chatter helps nobody here
	)
	if err := a.Err(); err != nil {
		fmt.Fprintln(stderr, "platform: "+describe(err))
		return 1
	}
	startCtx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		fmt.Fprintln(stderr, "platform: start failed: "+describe(err))
		return 1
	}
	sig := <-a.Wait()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
	defer cancelStop()
	began := time.Now()
	err = a.Stop(stopCtx)
	logStopped(log, sig, time.Since(began), err)
	if err != nil {
		fmt.Fprintln(stderr, "platform: stop failed: "+describe(err))
		return 1
	}
	return sig.ExitCode
}

// logStopped writes the one line that says Stagebus has stopped: why (the signal; a
// shutdown requested through fx.Shutdowner arrives as SIGTERM and tells itself apart by its
// exit code), how long the drain took, and the stop error if any (then at error level).
func logStopped(log zerolog.Logger, sig fx.ShutdownSignal, drain time.Duration, err error) {
	reason := sig.String()
	switch sig.Signal {
	case syscall.SIGTERM:
		reason = "SIGTERM"
	case syscall.SIGINT:
		reason = "SIGINT"
	}
	ev := log.Info()
	if err != nil {
		ev = log.Error().Str("error", describe(err))
	}
	ev.Str("reason", reason).Int("exit_code", sig.ExitCode).Dur("duration", drain).Msg("stopped")
}

// describe reduces an fx error to what the operator needs: the configuration problems, or
// the root cause without fx's wiring details.
func describe(err error) string {
	var ps config.Problems
	if errors.As(err, &ps) {
		return ps.Error()
	}
	root := dig.RootCause(err)
	return strings.ReplaceAll(root.Error(), "\n", " ")
}

func lookup(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}
