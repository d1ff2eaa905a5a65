package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/storage"
)

// maxImportBody bounds an uploaded CSV (100 000 rows are about 10 MiB).
const maxImportBody = 64 << 20

// RowProblem is one row error as the API and the CLI report it.
type RowProblem struct {
	Row     int    `json:"row"`
	Field   string `json:"field,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type fieldChange struct {
	Old string `json:"old"`
	New string `json:"new"`
}

type changeJSON struct {
	Row        int                    `json:"row"`
	Ops        []string               `json:"ops"`
	EmployeeID string                 `json:"employee_id,omitempty"`
	ExternalID string                 `json:"external_id,omitempty"`
	Name       string                 `json:"name"`
	Fields     map[string]fieldChange `json:"fields,omitempty"`
}

// ImportReport is the JSON form of a directory.ImportReport.
type ImportReport struct {
	Rows      int          `json:"rows"`
	Created   int          `json:"created"`
	Updated   int          `json:"updated"`
	Unchanged int          `json:"unchanged"`
	Applied   bool         `json:"applied"`
	DryRun    bool         `json:"dry_run"`
	Changes   []changeJSON `json:"changes"`
	Errors    []RowProblem `json:"errors"`
}

// Problems gives each row error its stable code (E-201, E-205, E-102 …).
func Problems(rep *directory.ImportReport) []RowProblem {
	out := []RowProblem{}
	for _, re := range rep.Errors {
		e := errcode.From(re.Err)
		msg := re.Message()
		if e.Code == errcode.Internal {
			msg = "internal error"
		}
		out = append(out, RowProblem{Row: re.Row, Field: re.Field, Code: e.Code, Message: msg})
	}
	return out
}

// ReportJSON renders rep for the API.
func ReportJSON(rep *directory.ImportReport, dryRun bool) *ImportReport {
	out := &ImportReport{Rows: rep.Rows, Created: rep.Created, Updated: rep.Updated, Unchanged: rep.Unchanged,
		Applied: rep.Applied, DryRun: dryRun, Changes: []changeJSON{}, Errors: Problems(rep)}
	for _, c := range rep.Changes {
		cj := changeJSON{Row: c.Row, Ops: c.Ops, EmployeeID: c.EmployeeID, ExternalID: c.ExternalID, Name: c.Name, Fields: map[string]fieldChange{}}
		for k, v := range c.Fields {
			cj.Fields[k] = fieldChange{Old: v[0], New: v[1]}
		}
		out.Changes = append(out.Changes, cj)
	}
	return out
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &directory.FieldError{Field: name, Message: "must be true or false"}
	}
	return b, nil
}

// importCSV answers 200 with the report when the file was applied (or a
// dry run found nothing wrong), 422 with the report when rows failed and
// nothing was written.
func (a *api) importCSV(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.need(capWritePeople, "importing employees"); err != nil {
		return err
	}
	dry, err := boolParam(r, "dry_run")
	if err != nil {
		return err
	}
	partial, err := boolParam(r, "partial")
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBody)
	rep, err := a.m.Import(r.Context(), r.Body, directory.ImportOptions{
		DryRun: dry, Partial: partial, Actor: p.actor, Reason: r.URL.Query().Get("reason"),
		Allow: func(ctx context.Context, deptID string) error {
			path, err := a.m.Ancestors(ctx, deptID)
			if err != nil {
				return err
			}
			return p.needAt(capWritePeople, path, "importing into this department")
		},
		AllowEmployee: func(ctx context.Context, e *storage.Employee) error {
			return a.guardTarget(ctx, p, e, "importing changes to employee")
		},
	})
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return &directory.FieldError{Field: "body", Message: fmt.Sprintf("the file is larger than %d MiB; split it", maxImportBody>>20)}
		}
		return err
	}
	status := http.StatusOK
	if len(rep.Errors) > 0 && !rep.Applied {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, ReportJSON(rep, dry))
	return nil
}
