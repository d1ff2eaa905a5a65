package directory

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/gongpai/gongpai/storage"
)

// Batch import of employees from the HR system's CSV export.
//
// The file is UTF-8 (a byte-order mark is skipped) with a header row
// naming its columns, in any order:
//
//	external_id   the HR system's key for the person (matches re-runs; needed for a cross-entity transfer)
//	employee_id   the employee ID: blank for a new hire = generated from the entity's rule
//	entity        legal entity code                       (required)
//	department    department code in that entity          (required)
//	name          display name                            (required)
//	email, title  optional; a blank cell clears the field
//	hire_date     YYYY-MM-DD, feeds the ID rule of a new hire (default: today)
//	status        active, frozen or departed; blank = active for a new hire, unchanged otherwise
//
// At least one of external_id and employee_id must be a column. A row
// matches an existing employee by external_id when given, else by
// employee_id; otherwise it onboards someone new (without a password:
// they sign in after an administrator's password reset). Applying the
// same file twice changes nothing the second time.

// ImportColumns are the columns a file may have, in the documented order.
var ImportColumns = []string{"external_id", "employee_id", "entity", "department", "name", "email", "title", "hire_date", "status"}

// ImportOptions control an import.
type ImportOptions struct {
	DryRun  bool   // validate and report the diff; write nothing
	Partial bool   // apply the good rows even when others fail
	Actor   string // for the audit trail
	Reason  string // "" = "batch import"
	// Allow, when set, vets every department a row touches (the target,
	// and the current one of a transfer); an error refuses the row.
	Allow func(ctx context.Context, departmentID string) error
	// AllowEmployee, when set, vets an existing employee a row would
	// change (not one it leaves as it is); an error refuses the row. The
	// admin API refuses employees holding rights the importer does not.
	AllowEmployee func(ctx context.Context, e *storage.Employee) error
}

// RowError is one problem with one row: Row is the CSV line's record
// number (the header is row 1), Field the column ("" for the whole row).
// Err is a *FieldError, a *TransitionError, a wrapped storage.ErrConflict
// or whatever Allow returned; the boundary turns it into a code.
type RowError struct {
	Row   int
	Field string
	Err   error
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("row %d: %v", e.Row, e.Err)
	}
	return fmt.Sprintf("row %d, %s: %v", e.Row, e.Field, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Message is the error's text without the field name a FieldError
// prefixes (the field is reported separately).
func (e *RowError) Message() string {
	var fe *FieldError
	if errors.As(e.Err, &fe) {
		return fe.Message
	}
	return e.Err.Error()
}

// ImportChange is what one row does.
type ImportChange struct {
	Row        int
	Ops        []string // create, update, transfer, freeze, unfreeze, leave
	EmployeeID string   // current ID; for a create the given one, or "" until generated
	ExternalID string
	Name       string
	Fields     map[string][2]string // changed field → [old, new]
}

// ImportReport is the outcome: every row's errors, and the changes that
// were (or, in a dry run or when refused, would have been) made.
type ImportReport struct {
	Rows      int // data rows read
	Created   int
	Updated   int // rows that change an existing employee
	Unchanged int
	Changes   []ImportChange
	Errors    []RowError
	Applied   bool // the changes were written
}

type importRow struct {
	row                                  int
	externalID, employeeID, entity, dept string
	name, email, title, hireDate, status string
	has                                  map[string]bool
}

// Import reads a CSV of employees and applies it (see the package
// comment above ImportColumns). It returns an error only when the import
// as a whole could not run (a backend fault, a conflict at write time);
// problems with the file or its rows are in the report, with nothing
// written unless o.Partial.
func (m *Manager) Import(ctx context.Context, r io.Reader, o ImportOptions) (*ImportReport, error) {
	rep := &ImportReport{}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data, ferr := checkEncoding(data)
	if ferr != nil {
		rep.Errors = append(rep.Errors, RowError{Row: 1, Err: ferr})
		return rep, nil
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		rep.Errors = append(rep.Errors, RowError{Row: 1, Err: &FieldError{Field: "header", Message: "the file has no header row: " + csvMessage(err)}})
		return rep, nil
	}
	cols, herrs := parseHeader(header)
	if len(herrs) > 0 {
		rep.Errors = herrs
		return rep, nil
	}
	cr.FieldsPerRecord = len(header)

	v := newValidator(m)
	if bytes.Count(data, []byte("\n")) > preloadRows {
		if err := v.preload(ctx); err != nil {
			return nil, err
		}
	}
	var writes []storage.EmployeeWrite
	var cuts []string // subjects whose access the import cuts
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		rep.Rows++
		if err != nil {
			rep.Errors = append(rep.Errors, RowError{Row: row, Field: "row", Err: &FieldError{Field: "row", Message: csvMessage(err)}})
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(err, csv.ErrFieldCount) {
				// A broken quote may swallow the rest: stop here.
				break
			}
			continue
		}
		ir := importRow{row: row, has: map[string]bool{}}
		for i, name := range cols {
			val := strings.TrimSpace(rec[i])
			ir.has[name] = true
			switch name {
			case "external_id":
				ir.externalID = val
			case "employee_id":
				ir.employeeID = storage.CanonicalCode(val)
			case "entity":
				ir.entity = storage.CanonicalCode(val)
			case "department":
				ir.dept = storage.CanonicalCode(val)
			case "name":
				ir.name = val
			case "email":
				ir.email = val
			case "title":
				ir.title = val
			case "hire_date":
				ir.hireDate = val
			case "status":
				ir.status = strings.ToLower(val)
			}
		}
		w, ch, cut, errs := v.row(ctx, &ir, o)
		if len(errs) > 0 {
			rep.Errors = append(rep.Errors, errs...)
			continue
		}
		if w == nil {
			rep.Unchanged++
			continue
		}
		if w.Create {
			rep.Created++
		} else {
			rep.Updated++
		}
		rep.Changes = append(rep.Changes, *ch)
		writes = append(writes, *w)
		if cut {
			cuts = append(cuts, w.Employee.Subject)
		}
	}
	if o.DryRun || len(writes) == 0 || (len(rep.Errors) > 0 && !o.Partial) {
		return rep, nil
	}
	reason := cmpOr(strings.TrimSpace(o.Reason), "batch import")
	writes[0].Audit = &storage.AuditEvent{ID: uuid.NewString(), At: m.dir.now().UTC(), Actor: o.Actor, Action: "employee.import",
		Target: "import", Reason: reason,
		Detail: fmt.Sprintf(`{"rows":%d,"created":%d,"updated":%d,"unchanged":%d,"failed_rows":%d}`, rep.Rows, rep.Created, rep.Updated, rep.Unchanged, len(rep.Errors))}
	if err := m.st.WriteEmployees(ctx, writes); err != nil {
		return rep, fmt.Errorf("directory: import: %w", err)
	}
	rep.Applied = true
	for i := range rep.Changes {
		if rep.Changes[i].EmployeeID == "" {
			rep.Changes[i].EmployeeID = writes[i].Employee.EmployeeID
		}
	}
	for _, sub := range cuts {
		if err := m.CutAccess(ctx, sub); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func csvMessage(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkEncoding strips a UTF-8 BOM and refuses anything but UTF-8,
// naming GBK (what Excel saves Chinese CSV as by default) when the bytes
// decode as GBK.
func checkEncoding(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return nil, &FieldError{Field: "encoding", Message: "the file is UTF-16; save it as \"CSV UTF-8\""}
	}
	if utf8.Valid(data) {
		return data, nil
	}
	if _, err := simplifiedchinese.GBK.NewDecoder().Bytes(data); err == nil {
		return nil, &FieldError{Field: "encoding", Message: "the file is GBK-encoded, not UTF-8 (Excel's \"CSV\" on a Chinese system); save it as \"CSV UTF-8\" or convert it with iconv -f GBK -t UTF-8"}
	}
	return nil, &FieldError{Field: "encoding", Message: "the file is not valid UTF-8; save it as \"CSV UTF-8\""}
}

func parseHeader(header []string) ([]string, []RowError) {
	var errs []RowError
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		cols[i] = name
		switch {
		case !slices.Contains(ImportColumns, name):
			errs = append(errs, RowError{Row: 1, Field: h, Err: &FieldError{Field: h, Message: fmt.Sprintf("unknown column %q (known: %s)", h, strings.Join(ImportColumns, ", "))}})
		case seen[name]:
			errs = append(errs, RowError{Row: 1, Field: name, Err: &FieldError{Field: name, Message: "column appears twice"}})
		}
		seen[name] = true
	}
	for _, req := range []string{"entity", "department", "name"} {
		if !seen[req] {
			errs = append(errs, RowError{Row: 1, Field: req, Err: &FieldError{Field: req, Message: "required column is missing"}})
		}
	}
	if !seen["external_id"] && !seen["employee_id"] {
		errs = append(errs, RowError{Row: 1, Field: "external_id", Err: &FieldError{Field: "external_id", Message: "a file needs an external_id or an employee_id column to match rows to employees"}})
	}
	return cols, errs
}

// validator checks rows against the directory, caching lookups.
type validator struct {
	m        *Manager
	entities map[string]*storage.LegalEntity // nil value = missing
	depts    map[string]*storage.Department  // "ENTITY/CODE"
	byExt    map[string]int                  // external ID → first row
	byID     map[string]int                  // employee ID → first row
	subjects map[string]int                  // subject → first row
	extIndex map[string]*storage.Employee    // preloaded, or nil
	idIndex  map[string]*storage.Employee
}

// preloadRows is the file size (in lines) above which the validator
// reads the whole directory once instead of looking each row up.
const preloadRows = 500

// preload indexes every employee by external and employee ID.
func (v *validator) preload(ctx context.Context) error {
	page, err := v.m.st.SearchEmployees(ctx, storage.EmployeeQuery{})
	if err != nil {
		return err
	}
	v.extIndex = make(map[string]*storage.Employee, len(page.Employees))
	v.idIndex = make(map[string]*storage.Employee, len(page.Employees))
	for i := range page.Employees {
		e := &page.Employees[i]
		if e.ExternalID != "" {
			v.extIndex[e.ExternalID] = e
		}
		v.idIndex[e.EmployeeID] = e
	}
	return nil
}

// byExternalID and byEmployeeID return nil, nil when nobody matches.
func (v *validator) byExternalID(ctx context.Context, ext string) (*storage.Employee, error) {
	if v.extIndex != nil {
		return v.extIndex[ext], nil
	}
	e, err := v.m.st.EmployeeByExternalID(ctx, ext)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return e, err
}

func (v *validator) byEmployeeID(ctx context.Context, id string) (*storage.Employee, error) {
	if v.idIndex != nil {
		return v.idIndex[id], nil
	}
	e, err := v.m.st.EmployeeByEmployeeID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	return e, err
}

func newValidator(m *Manager) *validator {
	return &validator{m: m, entities: map[string]*storage.LegalEntity{}, depts: map[string]*storage.Department{},
		byExt: map[string]int{}, byID: map[string]int{}, subjects: map[string]int{}}
}

func (v *validator) entity(ctx context.Context, code string) (*storage.LegalEntity, error) {
	if e, ok := v.entities[code]; ok {
		return e, nil
	}
	e, err := v.m.st.Entity(ctx, code)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	v.entities[code] = e
	return e, nil
}

func (v *validator) dept(ctx context.Context, entity, code string) (*storage.Department, error) {
	key := entity + "/" + code
	if d, ok := v.depts[key]; ok {
		return d, nil
	}
	d, err := v.m.st.DepartmentByCode(ctx, entity, code)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	v.depts[key] = d
	return d, nil
}

// row validates one row and builds its write. w is nil for an unchanged
// row; cut reports a freeze or departure.
func (v *validator) row(ctx context.Context, ir *importRow, o ImportOptions) (w *storage.EmployeeWrite, ch *ImportChange, cut bool, errs []RowError) {
	bad := func(field string, err error) { errs = append(errs, RowError{Row: ir.row, Field: field, Err: err}) }
	fieldErr := func(field, msg string) { bad(field, &FieldError{Field: field, Message: msg}) }

	// Field checks that need no lookup.
	if ir.entity == "" {
		fieldErr("entity", "is required")
	}
	if ir.dept == "" {
		fieldErr("department", "is required")
	}
	if err := checkName("name", ir.name, true); err != nil {
		bad("name", err)
	}
	if err := checkName("title", ir.title, false); err != nil {
		bad("title", err)
	}
	if err := checkEmail(ir.email); err != nil {
		bad("email", err)
	}
	if err := checkExternalID(ir.externalID); err != nil {
		bad("external_id", err)
	}
	var hire time.Time
	if ir.hireDate != "" {
		var err error
		if hire, err = time.Parse(time.DateOnly, ir.hireDate); err != nil {
			fieldErr("hire_date", fmt.Sprintf("%q is not a date like 2023-03-01", ir.hireDate))
		}
	}
	var status storage.EmployeeStatus
	switch ir.status {
	case "":
	case "active", "frozen", "departed":
		status = storage.EmployeeStatus(ir.status)
	default:
		fieldErr("status", fmt.Sprintf("%q is not active, frozen or departed", ir.status))
	}
	if ir.externalID == "" && ir.employeeID == "" && !ir.has["employee_id"] {
		fieldErr("external_id", "is required when the file has no employee_id column")
	}
	// Duplicates within the file.
	if ir.externalID != "" {
		if first, ok := v.byExt[ir.externalID]; ok {
			bad("external_id", fmt.Errorf("external ID %q already used on row %d: %w", ir.externalID, first, storage.ErrConflict))
		} else {
			v.byExt[ir.externalID] = ir.row
		}
	}
	if ir.employeeID != "" {
		if first, ok := v.byID[ir.employeeID]; ok {
			bad("employee_id", fmt.Errorf("employee ID %s already used on row %d: %w", ir.employeeID, first, storage.ErrConflict))
		} else {
			v.byID[ir.employeeID] = ir.row
		}
	}

	// References.
	var ent *storage.LegalEntity
	var dept *storage.Department
	if ir.entity != "" {
		e, err := v.entity(ctx, ir.entity)
		if err != nil {
			bad("", err)
			return
		}
		if e == nil {
			fieldErr("entity", fmt.Sprintf("no legal entity %q", ir.entity))
		} else {
			ent = e
			if ir.dept != "" {
				d, err := v.dept(ctx, ent.Code, ir.dept)
				if err != nil {
					bad("", err)
					return
				}
				if d == nil {
					fieldErr("department", fmt.Sprintf("no department %q in entity %s", ir.dept, ent.Code))
				} else {
					dept = d
				}
			}
		}
	}

	// The employee this row is about.
	var cur *storage.Employee
	if ir.externalID != "" {
		e, err := v.byExternalID(ctx, ir.externalID)
		if err != nil {
			bad("", err)
			return
		}
		cur = e
	}
	if ir.employeeID != "" {
		e, err := v.byEmployeeID(ctx, ir.employeeID)
		if err != nil {
			bad("", err)
			return
		}
		switch {
		case e == nil && cur != nil && cur.EmployeeID != ir.employeeID:
			// Matched by external ID under another ID: fine when the row's
			// ID is one this person had before a cross-entity transfer.
			hist, err := v.m.st.EmployeeIDHistory(ctx, cur.Subject)
			if err != nil {
				bad("", err)
				return
			}
			if !slices.ContainsFunc(hist, func(h storage.EmployeeIDRecord) bool { return h.EmployeeID == ir.employeeID }) {
				bad("employee_id", fmt.Errorf("external ID %q belongs to %s, not %s (IDs change only by a cross-entity transfer): %w", ir.externalID, cur.EmployeeID, ir.employeeID, storage.ErrConflict))
			}
		case e != nil && cur != nil && e.Subject != cur.Subject:
			bad("employee_id", fmt.Errorf("employee ID %s belongs to another person than external ID %q: %w", ir.employeeID, ir.externalID, storage.ErrConflict))
		case e != nil && cur == nil && ir.externalID != "" && e.ExternalID != "":
			bad("employee_id", fmt.Errorf("employee ID %s has external ID %q, not %q: %w", ir.employeeID, e.ExternalID, ir.externalID, storage.ErrConflict))
		case e != nil && cur == nil:
			cur = e
		}
	}
	if cur != nil {
		if first, ok := v.subjects[cur.Subject]; ok {
			bad("", fmt.Errorf("row %d is about the same employee (%s): %w", first, cur.EmployeeID, storage.ErrConflict))
		} else {
			v.subjects[cur.Subject] = ir.row
		}
	}
	if len(errs) > 0 || ent == nil || dept == nil {
		return nil, nil, false, errs
	}
	if o.Allow != nil {
		if err := o.Allow(ctx, dept.ID); err != nil {
			bad("department", err)
		}
		if cur != nil && cur.DepartmentID != "" && cur.DepartmentID != dept.ID {
			if err := o.Allow(ctx, cur.DepartmentID); err != nil {
				bad("department", err)
			}
		}
		if len(errs) > 0 {
			return nil, nil, false, errs
		}
	}
	if cur == nil {
		return v.create(ctx, ir, ent, dept, hire, status)
	}
	w, ch, cut, rerrs := v.update(ctx, ir, cur, ent, dept, status, o.Actor)
	if ch != nil && o.AllowEmployee != nil {
		if err := o.AllowEmployee(ctx, cur); err != nil {
			return nil, nil, false, []RowError{{Row: ir.row, Field: "employee_id", Err: err}}
		}
	}
	return w, ch, cut, rerrs
}

func (v *validator) create(ctx context.Context, ir *importRow, ent *storage.LegalEntity, dept *storage.Department, hire time.Time, status storage.EmployeeStatus) (*storage.EmployeeWrite, *ImportChange, bool, []RowError) {
	rowErr := func(field string, err error) []RowError { return []RowError{{Row: ir.row, Field: field, Err: err}} }
	if status == storage.StatusDeparted {
		return nil, nil, false, rowErr("status", &TransitionError{Action: ActionOnboard, From: departed})
	}
	if hire.IsZero() {
		hire = v.m.dir.now()
	}
	var p prepared
	if err := v.m.dir.assignID(ent, dept, ir.employeeID, hire, "", &p); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, nil, false, rowErr(fe.Field, fe)
		}
		return nil, nil, false, rowErr("", err)
	}
	now := v.m.dir.now().UTC()
	e := &storage.Employee{
		Subject: uuid.NewString(), EmployeeID: ir.employeeID, ExternalID: ir.externalID, Entity: ent.Code, DepartmentID: dept.ID,
		Name: ir.name, Email: ir.email, Title: ir.title, Status: storage.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	ops := []string{"create"}
	if status == storage.StatusFrozen {
		e.Status = storage.StatusFrozen
		ops = append(ops, "freeze")
	}
	w := &storage.EmployeeWrite{Employee: e, Create: true, SeqKey: p.seqKey, MakeID: p.makeID,
		Grants: []storage.RoleGrant{{Role: RoleEmployee, CreatedAt: now}}}
	ch := &ImportChange{Row: ir.row, Ops: ops, EmployeeID: ir.employeeID, ExternalID: ir.externalID, Name: ir.name,
		Fields: map[string][2]string{"entity": {"", ent.Code}, "department": {"", dept.Code}}}
	return w, ch, false, nil
}

func (v *validator) update(ctx context.Context, ir *importRow, cur *storage.Employee, ent *storage.LegalEntity, dept *storage.Department, status storage.EmployeeStatus, actor string) (*storage.EmployeeWrite, *ImportChange, bool, []RowError) {
	rowErr := func(field string, err error) []RowError { return []RowError{{Row: ir.row, Field: field, Err: err}} }
	next := *cur
	fields := map[string][2]string{}
	var ops []string
	set := func(field string, dst *string, val string) {
		if *dst != val {
			fields[field] = [2]string{*dst, val}
			*dst = val
		}
	}
	set("name", &next.Name, ir.name)
	if ir.has["email"] {
		set("email", &next.Email, ir.email)
	}
	if ir.has["title"] {
		set("title", &next.Title, ir.title)
	}
	if ir.externalID != "" {
		set("external_id", &next.ExternalID, ir.externalID)
	}
	if len(fields) > 0 {
		ops = append(ops, "update")
	}
	w := &storage.EmployeeWrite{Employee: &next}
	if cur.Status == storage.StatusDeparted && (len(fields) > 0 || cur.DepartmentID != dept.ID || (status != "" && status != departed)) {
		return nil, nil, false, rowErr("status", &TransitionError{Action: ActionUpdate, From: departed})
	}
	if cur.DepartmentID != dept.ID || cur.Entity != ent.Code {
		if _, err := Transition(cur.Status, ActionTransfer); err != nil {
			return nil, nil, false, rowErr("department", err)
		}
		oldDept := cur.DepartmentID
		if d, err := v.m.st.Department(ctx, cur.DepartmentID); err == nil {
			oldDept = d.Code
		}
		fields["department"] = [2]string{oldDept, dept.Code}
		next.DepartmentID = dept.ID
		ops = append(ops, "transfer")
		if cur.Entity != ent.Code {
			if ir.externalID == "" {
				return nil, nil, false, rowErr("external_id", &FieldError{Field: "external_id", Message: "is required for a transfer to another entity (the employee ID changes; external_id keeps re-runs matching)"})
			}
			var p prepared
			if err := v.m.dir.assignID(ent, dept, "", v.m.dir.now(), "", &p); err != nil {
				return nil, nil, false, rowErr("entity", err)
			}
			fields["entity"] = [2]string{cur.Entity, ent.Code}
			next.Entity, next.EmployeeID = ent.Code, ""
			w.ReissueID, w.SeqKey, w.MakeID, w.RetireReason = true, p.seqKey, p.makeID, "transfer to "+ent.Code+" (import)"
			w.RevokeScopedGrants, w.RevokeAudit = true, v.m.scopedRevokeAudit(actor, cur.EmployeeID, "transfer to "+ent.Code)
		}
	}
	cut := false
	if status != "" && status != cur.Status {
		act := map[storage.EmployeeStatus]Action{active: ActionUnfreeze, frozen: ActionFreeze, departed: ActionLeave}[status]
		to, err := Transition(cur.Status, act)
		if err != nil {
			return nil, nil, false, rowErr("status", err)
		}
		fields["status"] = [2]string{string(cur.Status), string(to)}
		next.Status = to
		ops = append(ops, string(act))
		cut = act.CutsAccess()
	}
	if len(ops) == 0 {
		return nil, nil, false, nil
	}
	next.UpdatedAt = v.m.dir.now().UTC()
	ch := &ImportChange{Row: ir.row, Ops: ops, EmployeeID: cur.EmployeeID, ExternalID: next.ExternalID, Name: next.Name, Fields: fields}
	return w, ch, cut, nil
}
