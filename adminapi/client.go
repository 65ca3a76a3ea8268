package adminapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/cf/identity/pulid"
)

// DefaultTimeout bounds one request of a client made by New, from sending
// it to reading the whole answer, unless WithTimeout or WithHTTPClient
// says otherwise.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is the User-Agent header of a client made by New unless
// WithUserAgent replaces it. It shows in the server's session and activity
// records of the requests.
const DefaultUserAgent = "cf-identity-adminapi"

// Option changes a client made by New.
type Option func(*settings)

type settings struct {
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
	org        pulid.ID
}

// WithTimeout bounds each request to d instead of DefaultTimeout; 0 means
// no bound other than the context's.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// WithUserAgent sends ua as the User-Agent header instead of
// DefaultUserAgent.
func WithUserAgent(ua string) Option { return func(s *settings) { s.userAgent = ua } }

// WithHTTPClient sends the requests through c (its transport, proxy and
// TLS settings), with its own Timeout; WithTimeout, given after it,
// changes the timeout of a copy of c.
func WithHTTPClient(c *http.Client) Option {
	return func(s *settings) {
		cp := *c
		s.httpClient = &cp
		s.timeout = c.Timeout
	}
}

// WithOrganization makes every request act in organization org: it is
// sent as the X-Organization-ID header (see the README's "The active
// organization"). A credential that does not belong to org is refused
// with FORBIDDEN on every request.
func WithOrganization(org pulid.ID) Option { return func(s *settings) { s.org = org } }

// New returns a client of the admin API at endpoint for the generated
// operations of this package (Viewer, OrganizationMembers, Invite, ...).
//
// endpoint is the server's base URL (http://127.0.0.1:8080) or its
// GraphQL URL (http://127.0.0.1:8080/graphql); /graphql is appended when
// the path does not end with it. apiKey, an API key (cfk_...) or an access
// token of a session, is sent as "Authorization: Bearer <apiKey>" on every
// request; with apiKey empty no Authorization header is sent and the
// server answers every operation with UNAUTHENTICATED.
//
// The operations return the server's errors as they came: use Code for
// extensions.code. A request runs at most DefaultTimeout (see WithTimeout)
// and is cut short when its context ends.
func New(endpoint, apiKey string, opts ...Option) graphql.Client {
	s := settings{timeout: DefaultTimeout, userAgent: DefaultUserAgent}
	for _, o := range opts {
		o(&s)
	}
	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{}
	}
	hc.Timeout = s.timeout
	return graphql.NewClient(graphQLURL(endpoint), &doer{client: hc, key: apiKey, userAgent: s.userAgent, org: s.org})
}

// graphQLURL returns endpoint with /graphql appended to its path unless
// the path already ends with it.
func graphQLURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		// Left as it is: the first request reports the malformed URL.
		return endpoint
	}
	if !strings.HasSuffix(u.Path, "/graphql") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/graphql"
	}
	return u.String()
}

// doer sets the headers of the server on every request.
type doer struct {
	client    *http.Client
	key       string
	userAgent string
	org       pulid.ID
}

func (d *doer) Do(r *http.Request) (*http.Response, error) {
	if d.key != "" {
		r.Header.Set("Authorization", "Bearer "+d.key)
	}
	if d.userAgent != "" {
		r.Header.Set("User-Agent", d.userAgent)
	}
	if d.org != "" {
		r.Header.Set("X-Organization-ID", string(d.org))
	}
	r.Header.Set("Accept", "application/json")
	return d.client.Do(r) //nolint:gosec // G704: the URL is the server the caller configured in New, not request data
}

// Code returns the extensions.code of the first GraphQL error in err, as
// the server set it: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND,
// BAD_USER_INPUT, CONFLICT, RATE_LIMITED, INTERNAL, ... (see the README's
// "Errors"). It reads errors answered with HTTP 200 (about one field of
// the operation) and those that refused the whole request with another
// status (401 UNAUTHENTICATED, 403 FORBIDDEN for X-Organization-ID, 413,
// 429, ...). It returns "" for nil, for errors that carry no code (a
// network failure, a timeout of the client, an answer that is not
// GraphQL) and for errors not from this package's client.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var list gqlerror.List
	var herr *graphql.HTTPError
	switch {
	case errors.As(err, &herr):
		list = herr.Response.Errors
	case errors.As(err, &list):
	default:
		var one *gqlerror.Error
		if errors.As(err, &one) {
			list = gqlerror.List{one}
		}
	}
	if len(list) == 0 || list[0] == nil {
		return ""
	}
	code, _ := list[0].Extensions["code"].(string)
	return code
}

// Organization returns the organization of an OrganizationMembers answer,
// nil when the ID named an object of another type (a user, say). An
// organization the caller cannot see is not nil here: the operation fails
// with NOT_FOUND instead.
func (v *OrganizationMembersResponse) Organization() *MembersNodeOrganization {
	org, _ := v.Node.(*MembersNodeOrganization)
	return org
}
