package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/features"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/oauthlink"
	"github.com/cf/identity/password"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/telemetry"
	"github.com/cf/identity/validation"
)

// Codes of the sign-in endpoints, in extensions.code of their errors.
const (
	CodeInvalidCredentials  = "INVALID_CREDENTIALS"
	CodeAccountLocked       = "ACCOUNT_LOCKED"
	CodeAccountBanned       = "ACCOUNT_BANNED"
	CodeAccountSuspended    = "ACCOUNT_SUSPENDED"
	CodeAccountDisabled     = "ACCOUNT_DISABLED"
	CodeAccountArchived     = "ACCOUNT_ARCHIVED"
	CodeAccountPending      = "ACCOUNT_PENDING"
	CodeInvalidRefreshToken = "INVALID_REFRESH_TOKEN"
	CodeRefreshTokenReused  = "REFRESH_TOKEN_REUSED"
	CodeSessionRevoked      = "SESSION_REVOKED"
	CodeSessionExpired      = "SESSION_EXPIRED"
	CodeUnsupportedMedia    = "UNSUPPORTED_MEDIA_TYPE"
	// Codes of the mailed-link flows.
	CodeInvalidToken       = "INVALID_TOKEN"
	CodeTokenUsed          = "TOKEN_USED"
	CodeTokenExpired       = "TOKEN_EXPIRED"
	CodeInvitationAccepted = "INVITATION_ACCEPTED"
	CodeInvitationRevoked  = "INVITATION_REVOKED"
	CodeInvitationExpired  = "INVITATION_EXPIRED"
	CodeFeatureDisabled    = "FEATURE_DISABLED"
	CodeNotConfigured      = "NOT_CONFIGURED"
)

// Defaults of the /auth/* rate limits: requests per minute from one client
// address, and for one account (the email of a login) or one presented
// token (refresh and logout).
const (
	DefaultAuthRateIP      = 60
	DefaultAuthRateAccount = 20
)

// maxAuthBody caps the body of an /auth/* request.
const maxAuthBody = 16 << 10

// signIn serves /auth/login, /auth/refresh, /auth/logout and /auth/switch.
type signIn struct {
	client   *ent.Client
	sessions *session.Manager
	flows    Flows
	log      *slog.Logger
	perIP    *failureLimiter
	perKey   *failureLimiter
	// background caps the password-reset requests running after their
	// answer was sent.
	background chan struct{}
}

func newSignIn(client *ent.Client, sessions *session.Manager, log *slog.Logger, opts Options) *signIn {
	perMinute := func(n, def int) *failureLimiter {
		if n == 0 {
			n = def
		}
		return newFailureLimiter(n, time.Minute)
	}
	return &signIn{
		client: client, sessions: sessions, flows: opts.Flows, log: log, background: make(chan struct{}, 8),
		perIP:  perMinute(opts.AuthRateIP, DefaultAuthRateIP),
		perKey: perMinute(opts.AuthRateAccount, DefaultAuthRateAccount),
	}
}

func (s *signIn) routes(mux *http.ServeMux) {
	mux.Handle("/auth/login", s.endpoint(s.login))
	mux.Handle("/auth/refresh", s.endpoint(s.refresh))
	mux.Handle("/auth/logout", s.endpoint(s.logout))
	mux.Handle("/auth/switch", s.endpoint(s.switchOrg))
	mux.Handle("/auth/invitations/accept", s.endpoint(s.acceptInvitation))
	mux.Handle("/auth/password-reset/request", s.endpoint(s.requestReset))
	mux.Handle("/auth/password-reset/confirm", s.endpoint(s.confirmReset))
	mux.Handle("/auth/verify-email", s.endpoint(s.verifyEmail))
	mux.Handle("/auth/signup", s.endpoint(s.signup))
	mux.HandleFunc("GET /auth/features", s.features)
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
}

// authRequest is the body of every /auth/* endpoint; each reads its fields.
type authRequest struct {
	Email          string `json:"email"`
	Password       string `json:"password"`
	OrganizationID string `json:"organizationID"`
	RefreshToken   string `json:"refreshToken"`
	// Token is the token of a mailed link (invitation, password reset,
	// verification); NewPassword the password a reset sets; Name the
	// display name of a new user.
	Token       string `json:"token"`
	NewPassword string `json:"newPassword"`
	Name        string `json:"name"`
}

// tokenResponse is the answer of login, refresh and switch.
type tokenResponse struct {
	AccessToken      string    `json:"accessToken"`
	TokenType        string    `json:"tokenType"`
	ExpiresIn        int       `json:"expiresIn"`
	RefreshToken     string    `json:"refreshToken,omitempty"`
	SessionID        pulid.ID  `json:"sessionID"`
	OrganizationID   pulid.ID  `json:"organizationID,omitempty"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, in authRequest) (any, error)

// endpoint decodes a JSON POST, applies the per-address rate limit, and
// writes the answer or the error.
func (s *signIn) endpoint(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			forbid(w, http.StatusMethodNotAllowed, CodeBadUserInput, "use POST with a JSON body")
			return
		}
		if wait := s.take(s.perIP, limiterKey(clientIP(r))); wait > 0 {
			rateLimited(w, r, telemetry.LimitAuthIP, wait)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			forbid(w, http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "send Content-Type: application/json")
			return
		}
		var in authRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAuthBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				forbid(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body exceeds %d bytes", maxAuthBody))
				return
			}
			forbid(w, http.StatusBadRequest, CodeBadUserInput, "malformed JSON body: "+jsonProblem(err))
			return
		}
		if dec.More() {
			forbid(w, http.StatusBadRequest, CodeBadUserInput, "malformed JSON body: one object expected")
			return
		}
		ctx := audit.WithRequest(r.Context(), audit.Request{
			Channel: audit.ChannelHTTP, IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 512), RequestID: RequestID(r.Context()),
		})
		out, err := h(w, r.WithContext(ctx), in)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if out == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if ws, ok := out.(withStatus); ok {
			w.WriteHeader(ws.status)
			out = ws.body
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

// take spends one request of key from l and returns how long to wait
// when none is left (0: go ahead).
func (s *signIn) take(l *failureLimiter, key string) time.Duration {
	if l == nil {
		return 0
	}
	now := time.Now()
	if wait := l.wait(key, now); wait > 0 {
		return wait
	}
	l.fail(key, now)
	return 0
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te) && te.Field == "":
		return "the body must be one JSON object"
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "cannot decode it"
}

func client(r *http.Request) session.Client {
	return session.Client{IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 512)}
}

func (s *signIn) login(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	if in.Email == "" {
		return nil, validation.Errorf("email", "required")
	}
	if wait := s.take(s.perKey, "login:"+strings.ToLower(strings.TrimSpace(in.Email))); wait > 0 {
		telemetry.Authenticated(r.Context(), telemetry.CredentialPassword, "rate_limited")
		return nil, rateLimit(wait)
	}
	org, err := organizationOf(in)
	if err != nil {
		return nil, err
	}
	t, err := s.sessions.Login(r.Context(), session.LoginInput{Email: in.Email, Password: in.Password, OrganizationID: org, Client: client(r)})
	telemetry.Authenticated(r.Context(), telemetry.CredentialPassword, signInResult(err))
	if err != nil {
		return nil, err
	}
	return tokenAnswer(t), nil
}

func (s *signIn) refresh(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	if in.RefreshToken == "" {
		return nil, validation.Errorf("refreshToken", "required")
	}
	if wait := s.take(s.perKey, "token:"+keyOf(in.RefreshToken)); wait > 0 {
		telemetry.Authenticated(r.Context(), telemetry.CredentialRefresh, "rate_limited")
		return nil, rateLimit(wait)
	}
	t, err := s.sessions.Refresh(r.Context(), in.RefreshToken, client(r))
	telemetry.Authenticated(r.Context(), telemetry.CredentialRefresh, signInResult(err))
	if err != nil {
		return nil, err
	}
	return tokenAnswer(t), nil
}

func (s *signIn) logout(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	if in.RefreshToken == "" {
		return nil, validation.Errorf("refreshToken", "required")
	}
	if wait := s.take(s.perKey, "token:"+keyOf(in.RefreshToken)); wait > 0 {
		return nil, rateLimit(wait)
	}
	return nil, s.sessions.Logout(r.Context(), in.RefreshToken)
}

// switchOrg needs the access token of the session in Authorization.
func (s *signIn) switchOrg(_ http.ResponseWriter, r *http.Request, in authRequest) (any, error) {
	bearer, ok := bearerOf(r)
	if !ok || credential.KindOf(bearer) != credential.KindAccessToken {
		return nil, errNeedAccessToken
	}
	a, claims, err := s.sessions.AuthenticateClaims(r.Context(), bearer)
	if err != nil {
		return nil, err
	}
	if wait := s.take(s.perKey, "user:"+string(a.UserID())); wait > 0 {
		return nil, rateLimit(wait)
	}
	org, err := organizationOf(in)
	if err != nil {
		return nil, err
	}
	// The switch acts as the user across its organizations (and, for an
	// impersonation, still names its impersonator).
	ua := actor.UserSession(a.UserID(), actor.PlatformNone, a.SessionID())
	if imp := a.Impersonator(); imp != "" {
		ua = ua.ImpersonatedBy(imp)
	}
	ctx, err := authz.NewContext(r.Context(), s.client, ua)
	if err != nil {
		return nil, err
	}
	t, err := s.sessions.SwitchOrganization(ctx, org, claims.Expiry)
	if err != nil {
		return nil, err
	}
	return tokenAnswer(t), nil
}

var errNeedAccessToken = errors.New("send Authorization: Bearer <access token> of the session to switch")

func (s *signIn) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := s.sessions.JWKS(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "jwks", "err", err, "request_id", RequestID(r.Context()))
		forbid(w, http.StatusServiceUnavailable, CodeInternal, "the keys cannot be read now; retry")
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

func tokenAnswer(t *session.Tokens) tokenResponse {
	return tokenResponse{
		AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresIn: t.ExpiresIn, RefreshToken: t.RefreshToken,
		SessionID: t.SessionID, OrganizationID: t.Organization, RefreshExpiresAt: t.RefreshExpiresAt.UTC(),
	}
}

// organizationOf returns the organizationID of in, "" when absent.
func organizationOf(in authRequest) (pulid.ID, error) {
	if in.OrganizationID == "" {
		return "", nil
	}
	id, err := pulid.Parse(in.OrganizationID)
	if err != nil || id.Prefix() != "org" {
		return "", validation.Errorf("organizationID", "want an organization ID (org_...)")
	}
	return id, nil
}

// keyOf names a presented token for the rate limit without keeping it.
func keyOf(token string) string {
	d, _ := secret.DigestOf(token).Value()
	b, _ := d.([]byte)
	return fmt.Sprintf("%x", b[:8])
}

type rateLimitError struct{ wait time.Duration }

func (e rateLimitError) Error() string { return "rate limited" }

func rateLimit(wait time.Duration) error { return rateLimitError{wait} }

// signInResult is the metrics result of a login or refresh: "ok", or
// the error's code in lower case ("invalid_credentials",
// "account_locked", …; "error" for errors without one).
func signInResult(err error) string {
	if err == nil {
		return "ok"
	}
	if _, code, _, _ := authError(err); code != "" {
		return strings.ToLower(code)
	}
	return "error"
}

// fail answers err with its status and code.
func (s *signIn) fail(w http.ResponseWriter, r *http.Request, err error) {
	var rl rateLimitError
	if errors.As(err, &rl) {
		rateLimited(w, r, telemetry.LimitAuthAccount, rl.wait)
		return
	}
	status, code, msg, ext := authError(err)
	if status == 0 && errors.Is(err, privacy.Deny) {
		// A policy refused a write of the flow (a session in an
		// organization the user may no longer act in, say).
		_, msg = classify(r.Context(), err)
		status, code = http.StatusForbidden, CodeForbidden
	}
	if status == 0 {
		ctx := r.Context()
		if ctx.Err() != nil || errors.Is(err, authz.ErrConcurrentUpdate) {
			c, m := classify(ctx, err)
			if c != "" {
				forbid(w, http.StatusConflict, c, m)
				return
			}
		}
		s.log.ErrorContext(ctx, "sign-in failed", "path", r.URL.Path, "err", err, "request_id", RequestID(ctx))
		forbid(w, http.StatusInternalServerError, CodeInternal, "internal error (request "+RequestID(ctx)+")")
		return
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cf identity"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
	for k, v := range ext {
		e.Extensions[k] = v
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": gqlerror.List{e}})
}

// authError maps the errors of package session to an HTTP status, a code,
// a message and extensions; status 0 for errors it does not know.
func authError(err error) (status int, code, msg string, ext map[string]any) {
	var (
		locked *session.LockedError
		state  *session.StateError
		verr   *validation.Error
	)
	switch {
	case errors.As(err, &verr):
		ext := map[string]any{"field": verr.Field}
		var rerr *password.RuleError
		if errors.As(err, &rerr) {
			ext["rule"] = string(rerr.Rule)
		}
		return http.StatusBadRequest, CodeBadUserInput, verr.Error(), ext
	case errors.Is(err, session.ErrInvalidCredentials):
		return http.StatusUnauthorized, CodeInvalidCredentials, "invalid email or password", nil
	case errors.As(err, &locked):
		return http.StatusForbidden, CodeAccountLocked, "too many failed logins: the account is locked until " + locked.Until.UTC().Format(time.RFC3339),
			map[string]any{"lockedUntil": locked.Until.UTC().Format(time.RFC3339)}
	case errors.As(err, &state):
		codes := map[string]string{
			session.ReasonBanned: CodeAccountBanned, session.ReasonSuspended: CodeAccountSuspended, session.ReasonDisabled: CodeAccountDisabled,
			session.ReasonArchived: CodeAccountArchived, session.ReasonPending: CodeAccountPending,
		}
		ext = map[string]any{}
		if !state.Until.IsZero() {
			ext["bannedUntil"] = state.Until.UTC().Format(time.RFC3339)
		}
		return http.StatusForbidden, codes[state.Reason], strings.TrimPrefix(state.Error(), "session: "), ext
	case errors.Is(err, session.ErrNotMember):
		return http.StatusForbidden, CodeForbidden, "you are not an active member of this organization", nil
	case errors.Is(err, session.ErrTokenReused):
		return http.StatusUnauthorized, CodeRefreshTokenReused, "this refresh token was used before: the session is revoked; sign in again", nil
	case errors.Is(err, session.ErrSessionRevoked):
		return http.StatusUnauthorized, CodeSessionRevoked, "the session was revoked; sign in again", nil
	case errors.Is(err, session.ErrSessionExpired):
		return http.StatusUnauthorized, CodeSessionExpired, "the session expired; sign in again", nil
	case errors.Is(err, session.ErrInvalidRefreshToken):
		return http.StatusUnauthorized, CodeInvalidRefreshToken, "invalid refresh token", nil
	case errors.Is(err, session.ErrInvalidAccessToken):
		return http.StatusUnauthorized, CodeUnauthenticated, "invalid or expired access token", nil
	case errors.Is(err, errNeedAccessToken):
		return http.StatusUnauthorized, CodeUnauthenticated, errNeedAccessToken.Error(), nil
	case errors.Is(err, authz.ErrInactive):
		return http.StatusUnauthorized, CodeUnauthenticated, "the user cannot sign in", nil
	case errors.Is(err, authz.ErrNotMember):
		return http.StatusForbidden, CodeForbidden, "you are not a member of this organization", nil
	}
	return flowError(err)
}

// flowError maps the errors of the invitation, recovery, OAuth-link and
// feature-switch flows; status 0 for errors it does not know.
func flowError(err error) (status int, code, msg string, ext map[string]any) {
	var (
		dis   *features.DisabledError
		state *invitation.StateError
	)
	// The message is the matched error's own, without its package prefix
	// (err may be wrapped, by GraphQL among others).
	own := func(e error) string {
		m := e.Error()
		for _, p := range []string{"features: ", "invitation: ", "session: ", "oauthlink: "} {
			m = strings.TrimPrefix(m, p)
		}
		return m
	}
	sentinels := []struct {
		err    error
		status int
		code   string
	}{
		{invitation.ErrAccepted, http.StatusConflict, CodeInvitationAccepted},
		{invitation.ErrRevoked, http.StatusGone, CodeInvitationRevoked},
		{invitation.ErrExpired, http.StatusGone, CodeInvitationExpired},
		{invitation.ErrPending, http.StatusConflict, CodeConflict},
		{invitation.ErrAlreadyMember, http.StatusConflict, CodeConflict},
		{invitation.ErrEmailMismatch, http.StatusForbidden, CodeForbidden},
		{session.ErrTokenUsed, http.StatusConflict, CodeTokenUsed},
		{session.ErrTokenExpired, http.StatusGone, CodeTokenExpired},
		{session.ErrEmailTaken, http.StatusConflict, CodeConflict},
		{oauthlink.ErrLinkedElsewhere, http.StatusConflict, CodeConflict},
		{oauthlink.ErrLastSignIn, http.StatusConflict, CodeConflict},
	}
	switch {
	case errors.As(err, &dis):
		return http.StatusForbidden, CodeFeatureDisabled, own(dis), map[string]any{"flow": string(dis.Flow)}
	case errors.Is(err, ErrNotConfigured):
		return http.StatusNotImplemented, CodeNotConfigured, "this flow is not configured on this server", nil
	case errors.As(err, &state):
		return http.StatusConflict, CodeConflict, own(state), nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.status, s.code, own(s.err), nil
		}
	}
	switch {
	case errors.Is(err, invitation.ErrInvalidToken):
		return http.StatusBadRequest, CodeInvalidToken, "unknown or malformed invitation token", map[string]any{"field": "token"}
	case errors.Is(err, session.ErrInvalidToken):
		return http.StatusBadRequest, CodeInvalidToken, "unknown or malformed token", map[string]any{"field": "token"}
	}
	return 0, "", "", nil
}
