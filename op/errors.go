package op

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gongpai/gongpai/storage"
)

// protocolErr translates a storage error at the protocol boundary (G4):
// "not there any more" becomes the given protocol error, anything else a
// server_error that is logged here, once, with its detail. zitadel answers
// every plain error with a 500, so nothing untranslated may leave.
func (p *Provider) protocolErr(ctx context.Context, what string, err error, notFound func() *oidc.Error) error {
	if err == nil {
		return nil
	}
	var oe *oidc.Error
	if errors.As(err, &oe) {
		return err
	}
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		return notFound().WithParent(err)
	}
	return p.serverErr(ctx, what, err)
}

// serverErr logs a backend fault and returns the generic server_error a
// client may see. An unavailable backend is logged as such so operators can
// tell an outage from a bug.
func (p *Provider) serverErr(ctx context.Context, what string, err error) *oidc.Error {
	if errors.Is(err, storage.ErrUnavailable) {
		p.log.ErrorContext(ctx, "storage unavailable", "op", what, "err", err)
		markOutage(ctx)
		return oidc.ErrServerError().WithParent(err).WithDescription("a backend is temporarily unavailable; retry shortly")
	} else {
		p.log.ErrorContext(ctx, "storage error", "op", what, "err", err)
	}
	return oidc.ErrServerError().WithParent(err).WithDescription("internal error")
}

// randomID returns n random bytes, base64url without padding: opaque,
// URL-safe and free of ':' (which zitadel's opaque token format reserves,
// G9).
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("op: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// The RFC 6749 / 6750 error codes zitadel has no constructor for. Its
// errorType is unexported, but untyped constants convert to it.
const (
	codeUnsupportedResponseType = "unsupported_response_type"
	codeInvalidToken            = "invalid_token"
)

func unsupportedResponseType(description string) *oidc.Error {
	return &oidc.Error{ErrorType: codeUnsupportedResponseType, Description: description}
}

func invalidToken(description string) *oidc.Error {
	return &oidc.Error{ErrorType: codeInvalidToken, Description: description}
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
