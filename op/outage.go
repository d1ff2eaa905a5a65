package op

import (
	"context"
	"net/http"
	"sync/atomic"
)

// A backend outage must reach clients as 503 (retry later), not as the
// 500 zitadel writes for every server_error: load balancers and relying
// parties treat the two differently. zitadel gives storage no way to pick
// the status, so the request carries a flag that serverErr raises and the
// response writer reads when the 500 goes out.

type outageKey struct{}

type outage struct{ hit atomic.Bool }

// markOutage records that this request failed because a backend is down.
func markOutage(ctx context.Context) {
	if o, ok := ctx.Value(outageKey{}).(*outage); ok {
		o.hit.Store(true)
	}
}

// outageStatus turns the 500 of a request that hit an outage into a 503
// with Retry-After.
func outageStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := &outage{}
		next.ServeHTTP(&outageWriter{ResponseWriter: w, o: o}, r.WithContext(context.WithValue(r.Context(), outageKey{}, o)))
	})
}

type outageWriter struct {
	http.ResponseWriter
	o *outage
}

func (w *outageWriter) WriteHeader(code int) {
	if code == http.StatusInternalServerError && w.o.hit.Load() {
		w.Header().Set("Retry-After", "5")
		code = http.StatusServiceUnavailable
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *outageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
