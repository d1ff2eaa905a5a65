package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/google/uuid"

	"github.com/gongpai/gongpai/admin"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// cliActor is who the audit trail names for CLI actions.
const cliActor = "cli"

// directoryCommands are the lifecycle, import and tree verbs (issue 5).
func directoryCommands() map[string]command {
	return map[string]command{
		"employee freeze":         {"freeze an employee: sign-in refused, sessions and tokens ended (--reason required)", lifecycleCmd(directory.ActionFreeze)},
		"employee unfreeze":       {"unfreeze an employee", lifecycleCmd(directory.ActionUnfreeze)},
		"employee leave":          {"mark an employee departed, for good (--reason required)", lifecycleCmd(directory.ActionLeave)},
		"employee reset-totp":     {"remove an employee's TOTP key: they enrol again (--reason required)", lifecycleCmd(directory.ActionResetTOTP)},
		"employee reset-password": {"set a new password (stdin, or generated with --generate), changed by the employee at the next sign-in (--reason required)", cmdEmployeeResetPassword},
		"employee transfer":       {"move an employee to another department (another entity: new employee ID)", cmdEmployeeTransfer},
		"dept move":               {"move a department with its subtree under another (cycles refused)", cmdDeptMove},
		"import employees":        {"import employees from a UTF-8 CSV (--dry-run prints the diff)", cmdImportEmployees},
	}
}

// manager builds the directory's administrative side over the app's store
// (every durable backend implements storage.DirectoryAdmin).
func (a *app) manager() *directory.Manager {
	return directory.NewManager(a.dir, a.store, a.store, directory.ManagerOptions{Sessions: a.sessionEnder(), Logger: a.log})
}

// newAdminHandler wires the admin API and SCIM over the provider's token
// verification.
func newAdminHandler(a *app, provider *op.Provider) (http.Handler, error) {
	return admin.New(admin.Options{Manager: a.manager(), Store: a.store, Tokens: provider, Issuer: a.cfg.Issuer.String(), Logger: a.log})
}

// employeeKey finds an employee by employee ID or sub.
func employeeKey(ctx context.Context, a *app, key string) (*storage.Employee, error) {
	if _, err := uuid.Parse(key); err == nil {
		return a.store.Employee(ctx, key)
	}
	e, err := a.store.EmployeeByEmployeeID(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, &directory.FieldError{Field: "employee", Message: fmt.Sprintf("no employee %q", storage.CanonicalCode(key))}
	}
	return e, err
}

func lifecycleCmd(act directory.Action) func(ctx context.Context, args []string, io stdio, env []string) error {
	name := "employee " + strings.ReplaceAll(string(act), "_", "-")
	return func(ctx context.Context, args []string, io stdio, env []string) error {
		fs := newFlags(name, "", io)
		emp := fs.String("employee", "", "employee `ID` or sub (required)")
		reason := fs.String("reason", "", "why (kept in the audit trail)")
		return withApp(ctx, fs, args, io, env, []string{"employee"}, func(a *app) error {
			m := a.manager()
			e, err := employeeKey(ctx, a, *emp)
			if err != nil {
				return err
			}
			switch act {
			case directory.ActionFreeze:
				e, err = m.Freeze(ctx, cliActor, e.Subject, *reason)
			case directory.ActionUnfreeze:
				e, err = m.Unfreeze(ctx, cliActor, e.Subject, *reason)
			case directory.ActionLeave:
				e, err = m.Leave(ctx, cliActor, e.Subject, *reason)
			case directory.ActionResetTOTP:
				e, err = m.ResetTOTP(ctx, cliActor, e.Subject, *reason)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(io.out, "employee %s: %s done; status %s\n", e.EmployeeID, strings.ReplaceAll(string(act), "_", " "), e.Status)
			return nil
		})
	}
}

func cmdEmployeeResetPassword(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("employee reset-password", "[< password]", io)
	emp := fs.String("employee", "", "employee `ID` or sub (required)")
	reason := fs.String("reason", "", "why (kept in the audit trail; required)")
	generate := fs.Bool("generate", false, "generate a password and print it once, instead of reading stdin")
	return withApp(ctx, fs, args, io, env, []string{"employee"}, func(a *app) error {
		m := a.manager()
		e, err := employeeKey(ctx, a, *emp)
		if err != nil {
			return err
		}
		pw := ""
		if !*generate {
			if pw, err = readPassword(io); err != nil {
				return err
			}
		}
		gen, err := m.ResetPassword(ctx, cliActor, e.Subject, pw, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.out, "employee %s: password reset; sessions and tokens ended; a new password must be chosen at the next sign-in\n", e.EmployeeID)
		if gen != "" {
			fmt.Fprintf(io.out, "new password: %s\n(shown once)\n", gen)
		}
		return nil
	})
}

func cmdEmployeeTransfer(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("employee transfer", "", io)
	emp := fs.String("employee", "", "employee `ID` or sub (required)")
	entity := fs.String("entity", "", "target legal entity `code` (default: the employee's own; another one issues a new employee ID)")
	dept := fs.String("dept", "", "target department `code` (required)")
	reason := fs.String("reason", "", "why (kept in the audit trail)")
	return withApp(ctx, fs, args, io, env, []string{"employee", "dept"}, func(a *app) error {
		m := a.manager()
		e, err := employeeKey(ctx, a, *emp)
		if err != nil {
			return err
		}
		old := e.EmployeeID
		if e, err = m.Transfer(ctx, cliActor, e.Subject, 0, *entity, *dept, *reason); err != nil {
			return err
		}
		if e.EmployeeID != old {
			fmt.Fprintf(io.out, "employee %s transferred to %s/%s with new employee ID %s (sub %s unchanged; %s is retired)\n",
				old, e.Entity, storage.CanonicalCode(*dept), e.EmployeeID, e.Subject, old)
		} else {
			fmt.Fprintf(io.out, "employee %s transferred to %s/%s\n", e.EmployeeID, e.Entity, storage.CanonicalCode(*dept))
		}
		return nil
	})
}

func cmdDeptMove(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("dept move", "", io)
	entity := fs.String("entity", "", "legal entity `code` (required)")
	code := fs.String("code", "", "department `code` to move (required)")
	parent := fs.String("parent", "", "new parent department `code` (empty: make it a root)")
	return withApp(ctx, fs, args, io, env, []string{"entity", "code"}, func(a *app) error {
		m := a.manager()
		d, err := a.store.DepartmentByCode(ctx, *entity, *code)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return &directory.FieldError{Field: "code", Message: fmt.Sprintf("no department %q in entity %q", *code, *entity)}
			}
			return err
		}
		if _, err := m.UpdateDepartment(ctx, cliActor, d.ID, directory.DepartmentChange{ParentCode: parent}); err != nil {
			return err
		}
		to := storage.CanonicalCode(*parent)
		if to == "" {
			to = "the root"
		}
		fmt.Fprintf(io.out, "department %s (with its subtree) moved under %s\n", d.Code, to)
		return nil
	})
}

func cmdImportEmployees(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("import employees", "FILE.csv", io)
	dry := fs.Bool("dry-run", false, "validate and print the changes; write nothing")
	partial := fs.Bool("partial", false, "apply the good rows even when some rows fail")
	reason := fs.String("reason", "", "recorded in the audit trail (default: batch import)")
	configPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(io.err, "import employees needs exactly one FILE.csv argument (flags first)")
		fs.Usage()
		return errUsage
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return &directory.FieldError{Field: "file", Message: err.Error()}
	}
	defer f.Close()
	a, err := openApp(ctx, *configPath, io, env)
	if err != nil {
		return err
	}
	defer a.Close()
	m := a.manager()
	rep, err := m.Import(ctx, f, directory.ImportOptions{DryRun: *dry, Partial: *partial, Actor: cliActor, Reason: *reason})
	if err != nil {
		return err
	}
	printImport(io.out, rep, *dry)
	if len(rep.Errors) > 0 {
		return &errcode.Error{Code: errcode.InvalidInput, Message: fmt.Sprintf("%d row error(s); %s", len(rep.Errors), map[bool]string{true: "the good rows were applied", false: "nothing was written"}[rep.Applied])}
	}
	return nil
}

// printImport writes the diff, the row errors and a summary.
func printImport(w io.Writer, rep *directory.ImportReport, dry bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Changes) > 0 {
		fmt.Fprintln(tw, "ROW\tCHANGE\tEMPLOYEE\tNAME\tDETAIL")
		for _, c := range rep.Changes {
			id := c.EmployeeID
			if id == "" {
				id = "(generated)"
			}
			keys := make([]string, 0, len(c.Fields))
			for k := range c.Fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var detail []string
			for _, k := range keys {
				v := c.Fields[k]
				if v[0] == "" {
					detail = append(detail, fmt.Sprintf("%s=%s", k, v[1]))
				} else {
					detail = append(detail, fmt.Sprintf("%s %s→%s", k, v[0], v[1]))
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", c.Row, strings.Join(c.Ops, "+"), id, c.Name, strings.Join(detail, ", "))
		}
		tw.Flush()
	}
	if probs := admin.Problems(rep); len(probs) > 0 {
		fmt.Fprintln(tw, "ROW\tFIELD\tCODE\tPROBLEM")
		for _, p := range probs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", p.Row, p.Field, p.Code, p.Message)
		}
		tw.Flush()
	}
	state := "applied"
	switch {
	case dry:
		state = "dry run: nothing written"
	case !rep.Applied && len(rep.Changes) > 0:
		state = "nothing written"
	case !rep.Applied:
		state = "nothing to write"
	}
	fmt.Fprintf(w, "%d rows: %d to create, %d to change, %d unchanged, %d with errors — %s\n",
		rep.Rows, rep.Created, rep.Updated, rep.Unchanged, countRows(rep), state)
}

func countRows(rep *directory.ImportReport) int {
	var rows []int
	for _, e := range rep.Errors {
		if !slices.Contains(rows, e.Row) {
			rows = append(rows, e.Row)
		}
	}
	return len(rows)
}

// setServiceRoles gives a client_credentials client its admin-API roles.
func setServiceRoles(c *storage.Client, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	for _, r := range roles {
		if !slices.Contains(admin.ServiceRoles, r) {
			return &directory.FieldError{Field: "service-role", Message: fmt.Sprintf("unknown role %q (want one of %s)", r, strings.Join(admin.ServiceRoles, ", "))}
		}
	}
	if !slices.Contains(c.GrantTypes, op.GrantClientCredentials) {
		return &directory.FieldError{Field: "service-role", Message: "only a client_credentials client (--grant client_credentials) is a service account"}
	}
	c.ServiceRoles = roles
	return nil
}
