package directory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/storage"
)

const importHeader = "external_id,employee_id,entity,department,name,email,title,hire_date,status\n"

func (f *mgrFixture) importCSV(t *testing.T, csv string, o directory.ImportOptions) *directory.ImportReport {
	t.Helper()
	if o.Actor == "" {
		o.Actor = "test"
	}
	rep, err := f.m.Import(t.Context(), strings.NewReader(csv), o)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return rep
}

func (f *mgrFixture) snapshot(t *testing.T) string {
	t.Helper()
	es, err := f.st.ListEmployees(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ev, err := f.st.ListAudit(t.Context(), storage.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s %s %s %s %s %s %d\n", e.EmployeeID, e.ExternalID, e.Entity, e.DepartmentID, e.Name, e.Status, e.Version)
	}
	fmt.Fprintf(&b, "audit %d\n", len(ev))
	return b.String()
}

func TestImportTenMistakes(t *testing.T) {
	f := newMgrFixture(t)
	before := f.snapshot(t)
	csv := importHeader +
		"x1,,ACME,HR01,,a@acme.example,,2024-01-02,active\n" + // 2: name missing
		"x2,,ACME,HR01,Li,not-an-email,,,\n" + // 3: bad email
		"x3,,NOPE,HR01,Li,,,,\n" + // 4: unknown entity
		"x4,,ACME,ZZ99,Li,,,,\n" + // 5: unknown department
		"x5,,ACME,HR01,Li,,,2024-13-01,\n" + // 6: impossible date
		"x6,,ACME,HR01,Li,,,,retired\n" + // 7: unknown status
		"x7,XX1,ACME,HR01,Li,,,2024-01-02,\n" + // 8: ID does not fit the rule
		"x7,,ACME,HR01,Wang,,,,\n" + // 9: external ID used twice
		"x9,,ACME,HR01,Zhao,,,,departed\n" + // 10: a new hire cannot start departed
		"x10,,ACME,HR01\n" + // 11: too few fields
		"x11,,ACME,HR01,Good Row,,,,\n" // 12: fine, but not written
	rep := f.importCSV(t, csv, directory.ImportOptions{})
	want := []struct {
		row         int
		field, code string
	}{
		{2, "name", "E-201"},
		{3, "email", "E-201"},
		{4, "entity", "E-201"},
		{5, "department", "E-201"},
		{6, "hire_date", "E-201"},
		{7, "status", "E-201"},
		{8, "employee_id", "E-201"},
		{9, "external_id", "E-205"},
		{10, "status", "E-205"},
		{11, "row", "E-201"},
	}
	if len(rep.Errors) != len(want) {
		t.Errorf("got %d errors, want %d:", len(rep.Errors), len(want))
		for _, e := range rep.Errors {
			t.Logf("  %v", &e)
		}
	}
	for i, w := range want {
		if i >= len(rep.Errors) {
			break
		}
		e := rep.Errors[i]
		code := errcode.From(e.Err).Code
		if e.Row != w.row || e.Field != w.field || code != w.code || e.Message() == "" {
			t.Errorf("error %d: got row %d %s %s %q, want row %d %s %s", i, e.Row, e.Field, code, e.Message(), w.row, w.field, w.code)
		}
	}
	if rep.Applied || rep.Created != 1 {
		t.Errorf("applied=%v created=%d: want the one good row counted but nothing applied", rep.Applied, rep.Created)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("a failed import wrote:\nbefore %s\nafter %s", before, after)
	}
}

func TestImportIdempotentAndDiff(t *testing.T) {
	f := newMgrFixture(t)
	ctx := t.Context()
	existing := f.onboard(t) // HR012023001, no external ID
	good := importHeader +
		"hr-1," + existing.EmployeeID + ",ACME,HR01,Zhang Wei,zw@acme.example,HRBP,2023-03-01,\n" + // adopts the external ID
		"hr-2,,ACME,HR01,Li Na,,,2023-05-02,\n" +
		"hr-3,HR022023009,ACME,HR02,Wang Fang,,,2023-07-01,frozen\n" +
		"hr-4,,ACME,FIN01,Zhao Lei,,Analyst,2024-02-03,active\n"
	dry := f.importCSV(t, good, directory.ImportOptions{DryRun: true})
	if len(dry.Errors) > 0 || dry.Applied || dry.Created != 3 || dry.Updated != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if f.snapshot(t) != f.snapshot(t) {
		t.Fatal("snapshot unstable")
	}
	rep := f.importCSV(t, good, directory.ImportOptions{})
	if !rep.Applied || rep.Created != 3 || rep.Updated != 1 || len(rep.Errors) > 0 {
		t.Fatalf("first import: %+v", rep)
	}
	ids := map[string]string{}
	for _, c := range rep.Changes {
		ids[c.ExternalID] = c.EmployeeID
	}
	if ids["hr-2"] != "HR012023002" || ids["hr-3"] != "HR022023009" || ids["hr-4"] != "FIN012024001" {
		t.Errorf("employee IDs: got %v", ids)
	}
	hr3, err := f.st.EmployeeByExternalID(ctx, "hr-3")
	if err != nil || hr3.Status != storage.StatusFrozen {
		t.Errorf("hr-3: %+v %v, want frozen", hr3, err)
	}
	snap := f.snapshot(t)
	again := f.importCSV(t, good, directory.ImportOptions{})
	if again.Created+again.Updated != 0 || again.Unchanged != 4 || len(again.Errors) > 0 {
		t.Errorf("second import of the same file: %+v, want 4 unchanged", again)
	}
	if f.snapshot(t) != snap {
		t.Errorf("second import changed the directory")
	}

	// A changed file: the dry run's diff names every kind of change.
	f.signedIn(t, hr3.Subject)
	changed := importHeader +
		"hr-1," + existing.EmployeeID + ",ACME,HR01,Zhang Wei,zw@acme.example,Senior HRBP,2023-03-01,\n" + // update
		"hr-2,,ACME,FIN01,Li Na,,,2023-05-02,\n" + // transfer
		"hr-3,,ACME,HR02,Wang Fang,,,2023-07-01,active\n" + // unfreeze
		"hr-4,,ACME,FIN01,Zhao Lei,,Analyst,2024-02-03,frozen\n" + // freeze
		"hr-5,,GLOBEX,OPS,New Hire,,,2024-06-01,\n" // create in another entity
	d := f.importCSV(t, changed, directory.ImportOptions{DryRun: true})
	var ops []string
	for _, c := range d.Changes {
		ops = append(ops, strings.Join(c.Ops, "+"))
	}
	if want := []string{"update", "transfer", "unfreeze", "freeze", "create"}; !slices.Equal(ops, want) {
		t.Errorf("dry-run diff: got %v, want %v", ops, want)
	}
	if f.snapshot(t) != snap {
		t.Errorf("a dry run wrote")
	}
	// Cross-entity transfer by import keeps sub and retires the ID.
	hr2, _ := f.st.EmployeeByExternalID(ctx, "hr-2")
	move := importHeader + "hr-2,,GLOBEX,OPS,Li Na,,,2023-05-02,\n"
	if r := f.importCSV(t, move, directory.ImportOptions{}); !r.Applied || len(r.Errors) > 0 {
		t.Fatalf("cross-entity import: %+v", r)
	}
	moved, _ := f.st.EmployeeByExternalID(ctx, "hr-2")
	if moved.Subject != hr2.Subject || moved.Entity != "GLOBEX" || moved.EmployeeID == hr2.EmployeeID {
		t.Errorf("moved: %+v", moved)
	}
	// Re-running with the old ID in the employee_id column still matches.
	rerun := importHeader + "hr-2," + hr2.EmployeeID + ",GLOBEX,OPS,Li Na,,,2023-05-02,\n"
	if r := f.importCSV(t, rerun, directory.ImportOptions{}); r.Unchanged != 1 || len(r.Errors) > 0 {
		t.Errorf("re-run after the cross-entity move: %+v %v", r, r.Errors)
	}
	// Freezing by import cuts access like the API does.
	freeze := importHeader + "hr-3,,ACME,HR02,Wang Fang,,,2023-07-01,active\n"
	f.importCSV(t, freeze, directory.ImportOptions{})
	f.signedIn(t, "other-subject")
	f.importCSV(t, importHeader+"hr-3,,ACME,HR02,Wang Fang,,,2023-07-01,frozen\n", directory.ImportOptions{})
	if s, r, a := f.accessLeft(t, hr3.Subject); s+r+a != 0 {
		t.Errorf("import freeze left %d sessions, %d refresh, %d access tokens", s, r, a)
	}
}

func TestImportPartialAndEncoding(t *testing.T) {
	f := newMgrFixture(t)
	csv := "\ufeff" + importHeader + "p-1,,ACME,HR01,Good,,,,\np-2,,ACME,HR01,,,,,\n"
	rep := f.importCSV(t, csv, directory.ImportOptions{Partial: true})
	if !rep.Applied || rep.Created != 1 || len(rep.Errors) != 1 {
		t.Errorf("partial import with a BOM: %+v", rep)
	}
	if _, err := f.st.EmployeeByExternalID(t.Context(), "p-1"); err != nil {
		t.Errorf("good row of a partial import not written: %v", err)
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(importHeader + "g-1,,ACME,HR01,张伟,,,,\n")
	if err != nil {
		t.Fatal(err)
	}
	rep = f.importCSV(t, gbk, directory.ImportOptions{})
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Message(), "GBK") || rep.Applied {
		t.Errorf("GBK file: %+v", rep.Errors)
	}
	rep = f.importCSV(t, "name,entity,color\n", directory.ImportOptions{})
	var fields []string
	for _, e := range rep.Errors {
		fields = append(fields, e.Field)
	}
	if !slices.Equal(fields, []string{"color", "department", "external_id"}) {
		t.Errorf("bad header: got errors on %v", fields)
	}
	// Scope checks refuse rows outside it.
	deny := errors.New("outside scope")
	rep = f.importCSV(t, importHeader+"s-1,,ACME,FIN01,X,,,,\n", directory.ImportOptions{Allow: func(context.Context, string) error { return deny }})
	if len(rep.Errors) != 1 || !errors.Is(rep.Errors[0].Err, deny) || rep.Applied {
		t.Errorf("scoped import: %+v", rep)
	}
}
