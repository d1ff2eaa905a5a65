package errcode_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gongpai/gongpai/config"
	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/errcode"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantStatus int
		wantField  string
	}{
		{"directory field", &directory.FieldError{Field: "employee_id", Message: "bad"}, errcode.InvalidInput, 400, "employee_id"},
		{"op field, wrapped", fmt.Errorf("client: %w", &op.FieldError{Field: "redirect_uris", Message: "bad"}), errcode.InvalidInput, 400, "redirect_uris"},
		{"config field, joined", errors.Join(&config.FieldError{Field: "issuer", Message: "bad"}), errcode.InvalidInput, 400, "issuer"},
		{"not found", fmt.Errorf("x: %w", storage.ErrNotFound), errcode.NotFound, 404, ""},
		{"conflict", storage.ErrConflict, errcode.Conflict, 409, ""},
		{"frozen", directory.ErrFrozen, errcode.AccountFrozen, 403, ""},
		{"unavailable", fmt.Errorf("dial: %w", storage.ErrUnavailable), errcode.Unavailable, 503, ""},
		{"already an Error", &errcode.Error{Code: errcode.PermissionDenied, Status: 403}, errcode.PermissionDenied, 403, ""},
		{"anything else", errors.New("boom: secret detail"), errcode.Internal, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errcode.From(tt.err)
			if got.Code != tt.wantCode || got.Status != tt.wantStatus || got.Field != tt.wantField {
				t.Errorf("From(%v) = %+v, want code %s status %d field %q", tt.err, got, tt.wantCode, tt.wantStatus, tt.wantField)
			}
			if tt.wantCode == errcode.Internal && got.Message != "internal error" {
				t.Errorf("an unknown error leaked its detail: %q", got.Message)
			}
		})
	}
}
