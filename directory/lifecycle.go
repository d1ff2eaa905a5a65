package directory

import (
	"fmt"

	"github.com/gongpai/gongpai/storage"
)

// The employee lifecycle is one state machine:
//
//	            onboard
//	               │
//	               ▼
//	  ┌──────── active ◀──── unfreeze ────┐
//	  │            │                      │
//	  │          freeze ──▶ frozen ───────┘
//	  │                       │
//	  └──── leave ──▶ departed ◀── leave ─┘   (terminal: data kept, ID never reused)
//
// update, transfer and the two resets keep the state (active or frozen);
// nothing applies to a departed employee. freeze on a frozen employee and
// unfreeze on an active one are harmless repeats (SCIM and imports resend
// what they hold), and a repeated freeze cuts access again.

// Action is a lifecycle transition.
type Action string

const (
	ActionOnboard       Action = "onboard"
	ActionUpdate        Action = "update"
	ActionTransfer      Action = "transfer"
	ActionFreeze        Action = "freeze"
	ActionUnfreeze      Action = "unfreeze"
	ActionLeave         Action = "leave"
	ActionResetPassword Action = "reset_password"
	ActionResetTOTP     Action = "reset_totp"
)

// statusNone is the state before onboarding.
const statusNone storage.EmployeeStatus = ""

var (
	active   = storage.StatusActive
	frozen   = storage.StatusFrozen
	departed = storage.StatusDeparted
)

// transitions maps each action to its allowed from → to states. A state
// missing from an action's map refuses it.
var transitions = map[Action]map[storage.EmployeeStatus]storage.EmployeeStatus{
	ActionOnboard:       {statusNone: active},
	ActionUpdate:        {active: active, frozen: frozen},
	ActionTransfer:      {active: active, frozen: frozen},
	ActionFreeze:        {active: frozen, frozen: frozen},
	ActionUnfreeze:      {frozen: active, active: active},
	ActionLeave:         {active: departed, frozen: departed},
	ActionResetPassword: {active: active, frozen: frozen},
	ActionResetTOTP:     {active: active, frozen: frozen},
}

// Transition returns the state an employee in state from is in after a.
// A refused transition is a *TransitionError (E-205).
func Transition(from storage.EmployeeStatus, a Action) (storage.EmployeeStatus, error) {
	to, ok := transitions[a][from]
	if !ok {
		return "", &TransitionError{Action: a, From: from}
	}
	return to, nil
}

// CutsAccess reports whether a ends the employee's sessions and tokens
// before it returns: a freeze, a departure, and either reset (the old
// credentials, and whatever signed in with them, are no longer trusted).
func (a Action) CutsAccess() bool {
	switch a {
	case ActionFreeze, ActionLeave, ActionResetPassword, ActionResetTOTP:
		return true
	}
	return false
}

// NeedsReason reports whether a is destructive and must say why (the
// reason is kept in the audit trail).
func (a Action) NeedsReason() bool { return a.CutsAccess() }

// TransitionError refuses an action the employee's state does not allow.
type TransitionError struct {
	Action Action
	From   storage.EmployeeStatus
}

func (e *TransitionError) Error() string {
	from := string(e.From)
	if e.From == statusNone {
		from = "existing"
	}
	if e.From == departed {
		return fmt.Sprintf("cannot %s an employee who has left (departed is final)", e.Action)
	}
	return fmt.Sprintf("cannot %s an employee who is %s", e.Action, from)
}

// Unwrap makes a refused transition a conflict with the stored state.
func (e *TransitionError) Unwrap() error { return storage.ErrConflict }
