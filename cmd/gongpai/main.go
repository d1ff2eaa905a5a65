// Command gongpai is the gongpai OpenID provider and its operators' CLI:
// serve, migrate, and the directory and client commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set by the build (-ldflags -X main.version=…).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Environ())
	stop()
	os.Exit(code)
}

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one CLI verb. run gets the arguments after the verb.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io stdio, env []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":         {"run the OpenID provider", cmdServe},
		"migrate":       {"apply database migrations and exit", cmdMigrate},
		"entity add":    {"add a legal entity with its employee-ID rule", cmdEntityAdd},
		"dept add":      {"add a department to an entity", cmdDeptAdd},
		"employee add":  {"onboard an employee (initial password read from stdin; changed at first sign-in)", cmdEmployeeAdd},
		"role grant":    {"grant a role to an employee", cmdRoleGrant},
		"client add":    {"register a relying party (prints its secret once)", cmdClientAdd},
		"client list":   {"list relying parties", cmdClientList},
		"employee list": {"list employees", cmdEmployeeList},
		"version":       {"print the version", cmdVersion},
		"keys list":     {"list signing keys and their states (--events: who did what)", cmdKeysList},
		"keys rotate":   {"publish a next signing key (--now: activate one at once)", cmdKeysRotate},
		"keys revoke":   {"revoke a signing key at once (--reason required)", cmdKeysRevoke},
		"keys rewrap":   {"re-seal private keys and TOTP seeds under a new master key", cmdKeysRewrap},
	}
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, io stdio, env []string) int {
	cmds := commands()
	maps.Copy(cmds, directoryCommands())
	maps.Copy(cmds, backupCommands())
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.out, cmds)
		return 0
	}
	name := args[0]
	rest := args[1:]
	if _, ok := cmds[name]; !ok && len(args) > 1 {
		name = args[0] + " " + args[1]
		rest = args[2:]
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(io.err, "gongpai: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(io.err, cmds)
		return 2
	}
	if err := cmd.run(ctx, rest, io, env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errUsage) {
			return 2
		}
		fmt.Fprintf(io.err, "gongpai %s: %s\n", name, describe(err))
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "gongpai — OpenID Connect sign-in for a company's employees")
	fmt.Fprintln(w, "\nUsage: gongpai <command> [flags]   (gongpai <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
}

func cmdVersion(_ context.Context, args []string, io stdio, _ []string) error {
	fs := newFlags("version", "", io)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(io.out, "gongpai", version)
	return nil
}

// newFlags makes a FlagSet whose --help prints a synopsis and the flags.
func newFlags(name, synopsis string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintf(io.err, "Usage: gongpai %s [flags] %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and refuses stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
