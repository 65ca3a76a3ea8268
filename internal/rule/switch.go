package rule

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/cf/identity/ent/privacy"
)

// policiesOff is set while a test runs with the privacy policies switched
// off (DisablePoliciesForTest).
var policiesOff atomic.Bool

// ErrNotATest is the panic value of DisablePoliciesForTest outside a test
// binary.
const ErrNotATest = "rule: the privacy policies can be switched off in a test binary only"

// DisablePoliciesForTest switches every privacy policy of the model off
// (each allows everything) until t's cleanup runs, for the whole process:
// the proof that PostgreSQL's row-level security alone keeps tenants apart
// (internal/crosstenant) runs with it. The hooks of the schema (role
// levels, the last owner, the audit trail) stay on. It panics in a binary
// that is not a test (testing.Testing() is false), so no built program can
// turn the policies off; tests that use it must not run in parallel with
// tests that rely on the policies.
func DisablePoliciesForTest(t interface{ Cleanup(func()) }) {
	if !testing.Testing() {
		panic(ErrNotATest)
	}
	policiesOff.Store(true)
	t.Cleanup(func() { policiesOff.Store(false) })
}

// allowIfOff allows everything while the policies are switched off.
func allowIfOff() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(context.Context) error {
		if policiesOff.Load() {
			return privacy.Allow
		}
		return privacy.Skip
	})
}
