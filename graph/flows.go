package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/features"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/session"
	"github.com/cf/identity/validation"
)

// acceptedResponse is the answer of POST /auth/invitations/accept.
type acceptedResponse struct {
	InvitationID   pulid.ID `json:"invitationID"`
	OrganizationID pulid.ID `json:"organizationID"`
	MembershipID   pulid.ID `json:"membershipID"`
	UserID         pulid.ID `json:"userID"`
	Email          string   `json:"email"`
	UserCreated    bool     `json:"userCreated"`
}

// requestedResponse is the answer of the requests that must not tell
// whether an address has an account (password reset, signup).
type requestedResponse struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// tokenKey spends one request of a presented token from the per-account
// limit.
func (s *signIn) tokenKey(token string) error {
	if token == "" {
		return validation.Errorf("token", "required")
	}
	if wait := s.take(s.perKey, "token:"+keyOf(token)); wait > 0 {
		return rateLimit(wait)
	}
	return nil
}

// emailKey spends one request for an address from the per-account limit.
func (s *signIn) emailKey(flow, email string) error {
	if wait := s.take(s.perKey, flow+":"+strings.ToLower(strings.TrimSpace(email))); wait > 0 {
		return rateLimit(wait)
	}
	return nil
}

func (s *signIn) acceptInvitation(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	svc, err := need(s.flows.Invitations)
	if err != nil {
		return nil, err
	}
	if err := s.tokenKey(in.Token); err != nil {
		return nil, err
	}
	a, err := svc.Accept(r.Context(), s.client, invitation.AcceptInput{Token: in.Token, Password: in.Password, Name: in.Name})
	if err != nil {
		return nil, err
	}
	return acceptedResponse{
		InvitationID: a.Invitation.ID, OrganizationID: a.Invitation.OrganizationID, MembershipID: a.Membership.ID,
		UserID: a.User.ID, Email: a.User.Email, UserCreated: a.UserCreated,
	}, nil
}

var resetAnswer = requestedResponse{Status: "requested", Message: "if this address has an account, a link to reset its password is on its way"}

// requestReset answers at once, the same for every well-formed address,
// and looks the address up after the answer is sent: neither the answer
// nor its timing tells whether the address has an account.
func (s *signIn) requestReset(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	rec, err := need(s.flows.Recovery)
	if err != nil {
		return nil, err
	}
	if err := rec.Gates().Check(r.Context(), features.PasswordReset); err != nil {
		return nil, err
	}
	email, err := validation.NormalEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := s.emailKey("reset", email); err != nil {
		return nil, err
	}
	ctx := context.WithoutCancel(r.Context())
	select {
	case s.background <- struct{}{}:
	default:
		// As many lookups are running as the server allows: this one is
		// dropped, and the answer stays the same.
		s.log.WarnContext(ctx, "password reset request dropped: too many running", "request_id", RequestID(ctx))
		return withStatus{http.StatusAccepted, resetAnswer}, nil
	}
	go func() {
		defer func() { <-s.background }()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := rec.RequestPasswordReset(ctx, email); err != nil {
			s.log.ErrorContext(ctx, "password reset request failed", "err", err, "request_id", RequestID(ctx))
		}
	}()
	return withStatus{http.StatusAccepted, resetAnswer}, nil
}

func (s *signIn) confirmReset(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	rec, err := need(s.flows.Recovery)
	if err != nil {
		return nil, err
	}
	if err := s.tokenKey(in.Token); err != nil {
		return nil, err
	}
	return nil, rec.ConfirmPasswordReset(r.Context(), in.Token, in.NewPassword)
}

func (s *signIn) verifyEmail(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	rec, err := need(s.flows.Recovery)
	if err != nil {
		return nil, err
	}
	if err := s.tokenKey(in.Token); err != nil {
		return nil, err
	}
	u, err := rec.VerifyEmail(r.Context(), in.Token)
	if err != nil {
		return nil, err
	}
	return map[string]any{"userID": u.ID, "email": u.Email, "emailVerified": u.EmailVerified}, nil
}

func (s *signIn) signup(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	rec, err := need(s.flows.Recovery)
	if err != nil {
		return nil, err
	}
	if err := s.emailKey("signup", in.Email); err != nil {
		return nil, err
	}
	if err := rec.Signup(r.Context(), session.SignupInput{Email: in.Email, Password: in.Password, Name: in.Name}); err != nil {
		return nil, err
	}
	return withStatus{http.StatusAccepted, requestedResponse{Status: "requested", Message: "check your mail: a link to verify the address is on its way, then sign in at /auth/login"}}, nil
}

// features answers which flows are on, without an actor: a sign-in page
// asks before anyone signs in. It tells nothing but the three switches.
func (s *signIn) features(w http.ResponseWriter, r *http.Request) {
	ss, err := featureStates(actor.NewContext(r.Context(), actor.System("features")), s.flows.Features)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]bool{}
	for _, st := range ss {
		out[string(st.Flow)] = st.Enabled
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// withStatus is an answer with a status other than 200.
type withStatus struct {
	status int
	body   any
}
