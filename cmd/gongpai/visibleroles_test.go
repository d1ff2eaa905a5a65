package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestClientAddVisibleRoles(t *testing.T) {
	c := newCLI(t)
	c.ok("", "client", "add", "--id", "erp", "--redirect-uri", "https://erp.acme.example/cb",
		"--visible-role", "employee", "--visible-role", "erp:*,hr")
	c.ok("", "client", "add", "--id", "crm", "--redirect-uri", "https://crm.acme.example/cb")
	if code, _, errOut := c.run("", "client", "add", "--id", "bad", "--redirect-uri", "https://bad.acme.example/cb",
		"--visible-role", "erp*"); code != 1 || !strings.Contains(errOut, "E-201 visible_roles") {
		t.Errorf("client add --visible-role erp*: exit %d, %q; want E-201 visible_roles", code, errOut)
	}

	a, err := openApp(context.Background(), "", stdio{err: &bytes.Buffer{}}, c.env)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for id, want := range map[string][]string{"erp": {"employee", "erp:*", "hr"}, "crm": nil} {
		cl, err := a.store.Client(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cl.VisibleRoles, want) {
			t.Errorf("client %s: VisibleRoles = %q, want %q", id, cl.VisibleRoles, want)
		}
	}
}
