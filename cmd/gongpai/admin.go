package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

// required reports the first empty required flag as a usage error.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fs.Lookup(n); f != nil && f.Value.String() == "" {
			fmt.Fprintf(fs.Output(), "missing required flag --%s\n", n)
			fs.Usage()
			return errUsage
		}
	}
	return nil
}

// withApp parses flags, opens the app and runs fn.
func withApp(ctx context.Context, fs *flag.FlagSet, args []string, io stdio, env []string, req []string, fn func(a *app) error) error {
	configPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := required(fs, req...); err != nil {
		return err
	}
	a, err := openApp(ctx, *configPath, io, env)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

func cmdMigrate(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("migrate", "", io)
	return withApp(ctx, fs, args, io, env, nil, func(a *app) error {
		// Opening the store applies the embedded migrations.
		fmt.Fprintf(io.out, "store %s is at the current schema\n", a.cfg.Store.Driver)
		return nil
	})
}

func cmdEntityAdd(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("entity add", "", io)
	code := fs.String("code", "", "entity `code`, e.g. ACME (required)")
	name := fs.String("name", "", "display `name` (required)")
	rule := fs.String("id-rule", "{dept}{yyyy}{seq:3}", "employee-ID `rule`: {entity} {dept} {yyyy} {yy} {mm} {seq:N} and literal A-Z 0-9 -")
	return withApp(ctx, fs, args, io, env, []string{"code", "name"}, func(a *app) error {
		e, err := a.dir.CreateEntity(ctx, *code, *name, *rule)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.out, "entity %s (%s) added; employee IDs follow %s\n", e.Code, e.Name, e.IDRule)
		return nil
	})
}

func cmdDeptAdd(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("dept add", "", io)
	entity := fs.String("entity", "", "legal entity `code` (required)")
	code := fs.String("code", "", "department `code`, e.g. HR01 (required)")
	name := fs.String("name", "", "display `name` (required)")
	parent := fs.String("parent", "", "parent department `code` (empty: a root department)")
	return withApp(ctx, fs, args, io, env, []string{"entity", "code", "name"}, func(a *app) error {
		d, err := a.dir.CreateDepartment(ctx, *entity, *code, *name, *parent)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.out, "department %s %s added to %s\n", d.Code, d.Name, d.Entity)
		return nil
	})
}

func cmdEmployeeAdd(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("employee add", "< initial-password", io)
	entity := fs.String("entity", "", "legal entity `code` (required)")
	dept := fs.String("dept", "", "department `code` (required)")
	id := fs.String("id", "", "employee `ID`; empty: generated from the entity's rule")
	name := fs.String("name", "", "full `name` (required)")
	email := fs.String("email", "", "work `email`")
	title := fs.String("title", "", "job `title`")
	hired := fs.String("hired", "", "hire `date` YYYY-MM-DD (default today; feeds {yyyy} in the ID rule)")
	seed := fs.String("totp-seed", "", "import a hardware token's base32 `seed` (counts as enrolled)")
	return withApp(ctx, fs, args, io, env, []string{"entity", "dept", "name"}, func(a *app) error {
		var hireDate time.Time
		if *hired != "" {
			t, err := time.Parse(time.DateOnly, *hired)
			if err != nil {
				return &directory.FieldError{Field: "hired", Message: "must be a date like 2023-03-01"}
			}
			hireDate = t
		}
		pw, err := readPassword(io)
		if err != nil {
			return err
		}
		e, err := a.dir.Onboard(ctx, directory.Onboarding{
			Entity: *entity, Department: *dept, EmployeeID: *id, Name: *name, Email: *email,
			Title: *title, Password: pw, TOTPSeed: *seed, HireDate: hireDate,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(io.out, "employee %s onboarded (sub %s)\n", e.EmployeeID, e.Subject)
		fmt.Fprintf(io.out, "the initial password works for the first sign-in only: %s must choose a new one then\n", e.EmployeeID)
		return nil
	})
}

// readPassword takes the first line of stdin: the password never appears
// in argv, shell history or the process list.
func readPassword(io stdio) (string, error) {
	line, err := bufio.NewReader(io.in).ReadString('\n')
	if err != nil && line == "" {
		return "", &directory.FieldError{Field: "password", Message: "read the initial password from stdin (e.g. `gongpai employee add … < pwfile`); got nothing"}
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func cmdEmployeeList(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("employee list", "", io)
	return withApp(ctx, fs, args, io, env, nil, func(a *app) error {
		es, err := a.store.ListEmployees(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMPLOYEE ID\tNAME\tENTITY\tSTATUS\tTOTP\tPASSWORD\tSUB")
		for _, e := range es {
			totp := "no"
			if e.TOTPSecret != nil {
				totp = "yes"
			}
			pw := "own"
			switch {
			case e.PasswordHash == "":
				pw = "none"
			case e.PasswordChangeRequired:
				pw = "initial" // set by HR or an administrator; changed at the next sign-in
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.EmployeeID, e.Name, e.Entity, e.Status, totp, pw, e.Subject)
		}
		return tw.Flush()
	})
}

func cmdRoleGrant(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("role grant", "", io)
	emp := fs.String("employee", "", "employee `ID` (required)")
	role := fs.String("role", "", "role `name`, e.g. hr or erp:approver (required)")
	dept := fs.String("dept", "", "scope the role to this department `code`'s subtree")
	return withApp(ctx, fs, args, io, env, []string{"employee", "role"}, func(a *app) error {
		if err := a.dir.GrantRole(ctx, *emp, *role, *dept); err != nil {
			return err
		}
		fmt.Fprintf(io.out, "role %s granted to %s\n", *role, storage.CanonicalCode(*emp))
		return nil
	})
}

func cmdClientAdd(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("client add", "", io)
	id := fs.String("id", "", "client `ID`, e.g. erp (required)")
	name := fs.String("name", "", "display `name` shown on the sign-in page")
	public := fs.Bool("public", false, "a public client (SPA or native app): no secret, PKCE required")
	jwtAT := fs.Bool("jwt-access-tokens", false, "issue RFC 9068 JWT access tokens instead of opaque ones")
	mfa := fs.Bool("require-mfa", false, "refuse sign-ins without a second factor")
	backchannel := fs.String("backchannel-logout-uri", "", "`URL` the app receives OIDC back-channel logout tokens at (https; http only on loopback)")
	idTokenAlg := fs.String("id-token-alg", "", "`algorithm` the client wants its ID tokens signed with (RS256, ES256, EdDSA; "+
		"id_token_signed_response_alg); must be one of keys.algorithms")
	var redirects, logouts, grants, scopes stringList
	fs.Var(&redirects, "redirect-uri", "allowed redirect `URI` (exact match; repeatable)")
	fs.Var(&logouts, "post-logout-redirect-uri", "allowed post-logout redirect `URI` (repeatable)")
	fs.Var(&grants, "grant", "allowed `grant` type (repeatable; default authorization_code,refresh_token)")
	fs.Var(&scopes, "scope", "allowed `scope` (repeatable; default openid,profile,email,employee,roles,offline_access; "+
		"gongpai:admin lets employees' tokens from this client call the admin API and SCIM: admin consoles only)")
	var serviceRoles stringList
	fs.Var(&serviceRoles, "service-role", "directory `role` a client_credentials token of this client holds: hr, admin, auditor or scim (repeatable)")
	var visibleRoles stringList
	fs.Var(&visibleRoles, "visible-role", "`role` the app sees in the roles claim: a name, a prefix pattern such as erp:*, or * for every role "+
		"(repeatable; default employee and <id>:*)")
	return withApp(ctx, fs, args, io, env, []string{"id"}, func(a *app) error {
		if len(grants) == 0 {
			grants = stringList{"authorization_code", "refresh_token"}
		}
		if len(scopes) == 0 {
			scopes = stringList{"openid", "profile", "email", "employee", "roles", "offline_access"}
		}
		format := storage.AccessTokenOpaque
		if *jwtAT {
			format = storage.AccessTokenJWT
		}
		c, secret, err := op.NewClient(op.ClientSpec{
			ID: *id, Name: *name, Public: *public, RedirectURIs: redirects, PostLogoutRedirectURIs: logouts,
			GrantTypes: grants, Scopes: scopes, AccessTokenFormat: format, RequireMFA: *mfa,
			IDTokenSignedResponseAlg: *idTokenAlg, BackchannelLogoutURI: *backchannel, VisibleRoles: visibleRoles,
		}, time.Now())
		if err != nil {
			return err
		}
		if err := op.CheckIDTokenAlg(c.IDTokenSignedResponseAlg, a.cfg.KeyPolicy().Algorithms); err != nil {
			return err
		}
		if err := setServiceRoles(c, serviceRoles); err != nil {
			return err
		}
		if err := a.store.CreateClient(ctx, c); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return &directory.FieldError{Field: "id", Message: fmt.Sprintf("client %q already exists", c.ID)}
			}
			return err
		}
		issuer := strings.TrimSuffix(a.cfg.Issuer.String(), "/")
		fmt.Fprintf(io.out, "client_id:     %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(io.out, "client_secret: %s\n(shown once: gongpai keeps only its SHA-256)\n", secret)
		}
		fmt.Fprintf(io.out, "discovery:     %s/.well-known/openid-configuration\n", issuer)
		return nil
	})
}

func cmdClientList(ctx context.Context, args []string, io stdio, env []string) error {
	fs := newFlags("client list", "", io)
	return withApp(ctx, fs, args, io, env, nil, func(a *app) error {
		cs, err := a.store.ListClients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tTYPE\tGRANTS\tREDIRECT URIS")
		for _, c := range cs {
			kind := "confidential"
			if c.Public {
				kind = "public"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
		}
		return tw.Flush()
	})
}
