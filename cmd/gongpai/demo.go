package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

const demoSeededKey = "demo.seeded"

// DemoRedirectURI is where the demo OA client's sign-ins return; the
// example relying party (examples/rp) listens there by default.
const DemoRedirectURI = "http://127.0.0.1:9000/callback"

type demoEmployee struct {
	dept, name, email, title string
	roles                    []string
}

var demoEmployees = []demoEmployee{
	{"HR01", "张伟 Zhang Wei", "zhang.wei@acme.example", "HR Business Partner", []string{"hr"}},
	{"FIN01", "李娜 Li Na", "li.na@acme.example", "Finance Controller", []string{"erp:approver"}},
	{"IT01", "王芳 Wang Fang", "wang.fang@acme.example", "IT Administrator", []string{"admin"}},
}

// seedDemo creates the demo company the first time and prints how to sign
// in; later runs only say it is there.
func seedDemo(ctx context.Context, a *app, out io.Writer) error {
	if v, err := a.store.Setting(ctx, demoSeededKey); err == nil && v != "" {
		fmt.Fprintln(out, "Demo company ACME is already seeded (its passwords and client secret were printed when it was created; delete the data directory to start over).")
		return nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}

	if _, err := a.dir.CreateEntity(ctx, "ACME", "ACME Group", "{dept}{yyyy}{seq:3}"); err != nil {
		return err
	}
	for _, d := range [][2]string{{"HR01", "Human Resources"}, {"FIN01", "Finance"}, {"IT01", "IT"}} {
		if _, err := a.dir.CreateDepartment(ctx, "ACME", d[0], d[1], ""); err != nil {
			return err
		}
	}

	var b strings.Builder
	b.WriteString("\nDemo company ACME seeded. Sign in with (at first sign-in each employee enrols an authenticator app,\nthen replaces the initial password with one of their own):\n\n")
	fmt.Fprintf(&b, "  %-13s %-27s %-22s %s\n", "EMPLOYEE ID", "INITIAL PASSWORD", "ROLES", "NAME")
	hired := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, de := range demoEmployees {
		pw, err := randomPassword()
		if err != nil {
			return err
		}
		e, err := a.dir.Onboard(ctx, directory.Onboarding{
			Entity: "ACME", Department: de.dept, Name: de.name, Email: de.email, Title: de.title,
			Password: pw, HireDate: hired,
		})
		if err != nil {
			return err
		}
		for _, r := range de.roles {
			if err := a.dir.GrantRole(ctx, e.EmployeeID, r, ""); err != nil {
				return err
			}
		}
		fmt.Fprintf(&b, "  %-13s %-27s %-22s %s\n", e.EmployeeID, pw, strings.Join(append([]string{"employee"}, de.roles...), ","), de.name)
	}

	c, secret, err := op.NewClient(op.ClientSpec{
		ID: "demo-oa", Name: "ACME OA (demo)",
		RedirectURIs:           []string{DemoRedirectURI},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:9000/"},
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		Scopes:                 []string{"openid", "profile", "email", "employee", "roles", "offline_access"},
		// The demo app shows every role the demo employees hold; a real
		// app sees employee and its own "<id>:*" roles unless registered
		// with --visible-role.
		VisibleRoles: []string{"*"},
	}, time.Now())
	if err != nil {
		return err
	}
	if err := a.store.CreateClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nDemo client:  client_id %s   client_secret %s\n              redirect_uri %s\n", c.ID, secret, DemoRedirectURI)
	fmt.Fprintf(&b, "Try it:       go run ./examples/rp -issuer %s -client-id %s -client-secret %s\n\n", a.cfg.Issuer.String(), c.ID, secret)
	if err := a.store.PutSetting(ctx, demoSeededKey, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	_, err = io.WriteString(out, b.String())
	return err
}

// randomPassword is 26 characters of base32 (130 bits): easy to type from
// a terminal, impossible to guess.
func randomPassword() (string, error) { return rand.Text(), nil }
