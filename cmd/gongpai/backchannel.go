package main

import (
	"context"
	"time"

	"github.com/gongpai/gongpai/directory"
	"github.com/gongpai/gongpai/keys"
	"github.com/gongpai/gongpai/op"
	"github.com/gongpai/gongpai/storage"
)

// How long queued back-channel logout deliveries may still run when the
// server shuts down, and when a CLI command (freeze, leave, resets) that
// ended sessions is about to exit. Beyond it they are dropped and logged
// (docs/operations.md, "Back-channel logout").
const (
	logoutDrainOnShutdown = 5 * time.Second
	logoutDrainCLI        = 15 * time.Second
)

// newLogoutSender is the back-channel logout sender over the app's store
// (client registrations) and km (signing keys).
func (a *app) newLogoutSender(km *keys.Manager) (*op.LogoutSender, error) {
	return op.NewLogoutSender(op.LogoutConfig{
		Issuer:  a.cfg.Issuer.String(),
		Keys:    km,
		Clients: a.store,
		Logger:  a.log,
	})
}

// runLogoutSender runs s until the returned stop is called. stop lets
// what is queued finish for up to drain, then ends the workers and waits
// for them.
func runLogoutSender(ctx context.Context, s *op.LogoutSender, drain time.Duration) (stop func()) {
	// Not cancelled with ctx: deliveries queued by the last requests may
	// still go out while the server shuts down.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(runCtx)
	}()
	return func() {
		drainCtx, cancelDrain := context.WithTimeout(runCtx, drain)
		_ = s.Drain(drainCtx) // what is left is logged by Run
		cancelDrain()
		cancel()
		<-done
	}
}

// sessionEnder is who the directory manager tells about the sessions a
// lifecycle change ended: the server's sender under serve, otherwise (a
// CLI command) a sender that delivers before the command returns.
func (a *app) sessionEnder() directory.SessionEnder {
	if a.logout != nil {
		return a.logout
	}
	return cliLogout{a}
}

// cliLogout sends the logout tokens of a CLI command synchronously: the
// process is about to exit, so there is no background to send them in.
type cliLogout struct{ a *app }

func (c cliLogout) SessionsEnded(ctx context.Context, subject string, sessions []storage.Session) {
	km := keys.NewManager(c.a.store, c.a.sealer, keys.Options{Policy: c.a.cfg.KeyPolicy(), Logger: c.a.log})
	if err := km.Refresh(ctx); err != nil {
		c.a.log.ErrorContext(ctx, "back-channel logout not sent: signing keys", "sub", subject, "err", err)
		return
	}
	s, err := c.a.newLogoutSender(km)
	if err != nil {
		c.a.log.ErrorContext(ctx, "back-channel logout not sent", "sub", subject, "err", err)
		return
	}
	stop := runLogoutSender(ctx, s, logoutDrainCLI)
	s.SessionsEnded(ctx, subject, sessions)
	stop()
}
