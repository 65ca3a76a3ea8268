package accesstoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cf/identity/pulid"
)

// Actor is the RFC 8693 "act" claim of a token issued to an impersonator:
// Subject is the user who acts, while the token's own subject is the user
// being impersonated.
type Actor struct {
	Subject pulid.ID `json:"sub"`
}

// Claims are the claims of an access token, with the IDs of cf identity.
//
// As JSON (MarshalJSON, UnmarshalJSON) they are the JWT claims iss, aud,
// sub, sid, org (omitted when empty), act (omitted when nil), iat, exp and
// jti, with times as NumericDate (seconds since the Unix epoch). aud is a
// string when it holds one audience and an array otherwise; both are read.
type Claims struct {
	Issuer       string
	Audience     []string
	Subject      pulid.ID // the user, "usr_..."
	SessionID    pulid.ID // the session, "ses_..."
	Organization pulid.ID // the active organization, "org_...", or "" when none
	Actor        *Actor   // the impersonator, nil when nobody impersonates
	IssuedAt     time.Time
	Expiry       time.Time
	ID           string // jti, unique per token
}

// jsonClaims is the wire form of Claims. nbf is read (and enforced by
// Verify) but never written.
type jsonClaims struct {
	Issuer       string       `json:"iss,omitempty"`
	Audience     audience     `json:"aud,omitempty"`
	Subject      pulid.ID     `json:"sub,omitempty"`
	SessionID    pulid.ID     `json:"sid,omitempty"`
	Organization pulid.ID     `json:"org,omitempty"`
	Actor        *Actor       `json:"act,omitempty"`
	IssuedAt     *numericDate `json:"iat,omitempty"`
	Expiry       *numericDate `json:"exp,omitempty"`
	NotBefore    *numericDate `json:"nbf,omitempty"`
	ID           string       `json:"jti,omitempty"`
}

// MarshalJSON returns the JWT claims set of c. Times are cut to seconds.
func (c Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonClaims{
		Issuer:       c.Issuer,
		Audience:     c.Audience,
		Subject:      c.Subject,
		SessionID:    c.SessionID,
		Organization: c.Organization,
		Actor:        c.Actor,
		IssuedAt:     newNumericDate(c.IssuedAt),
		Expiry:       newNumericDate(c.Expiry),
		ID:           c.ID,
	})
}

// UnmarshalJSON reads a JWT claims set. It checks the JSON types only (a
// string where a string belongs, a number for times); the values are
// checked by Verify.
func (c *Claims) UnmarshalJSON(data []byte) error {
	var j jsonClaims
	if err := j.decode(data); err != nil {
		return fmt.Errorf("accesstoken: %w", err)
	}
	*c = j.claims()
	return nil
}

// decode reads a claims set; its errors have no package prefix.
func (j *jsonClaims) decode(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("claims are not a JSON object")
	}
	if err := json.Unmarshal(data, j); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("claim %s is a JSON %s", quote(te.Field), te.Value)
		}
		return fmt.Errorf("claims: %v", err) //nolint:errorlint // encoding/json errors are not part of this API; callers wrap ErrClaims
	}
	return nil
}

func (j *jsonClaims) claims() Claims {
	return Claims{
		Issuer:       j.Issuer,
		Audience:     j.Audience,
		Subject:      j.Subject,
		SessionID:    j.SessionID,
		Organization: j.Organization,
		Actor:        j.Actor,
		IssuedAt:     j.IssuedAt.time(),
		Expiry:       j.Expiry.time(),
		ID:           j.ID,
	}
}

// check reports the first claim of c that cf identity would never issue,
// with an error wrapping ErrClaims. Issuer and audience values and times
// against the clock are checked by Verify.
func (c *Claims) check() error {
	switch {
	case c.Issuer == "":
		return fmt.Errorf("%w: no iss", ErrClaims)
	case len(c.Audience) == 0:
		return fmt.Errorf("%w: no aud", ErrClaims)
	case c.IssuedAt.IsZero():
		return fmt.Errorf("%w: no iat", ErrClaims)
	case c.Expiry.IsZero():
		return fmt.Errorf("%w: no exp", ErrClaims)
	case !c.Expiry.After(c.IssuedAt):
		return fmt.Errorf("%w: exp is not after iat", ErrClaims)
	case c.ID == "":
		return fmt.Errorf("%w: no jti", ErrClaims)
	}
	for _, a := range c.Audience {
		if a == "" {
			return fmt.Errorf("%w: empty aud", ErrClaims)
		}
	}
	if err := checkID("sub", c.Subject, "usr"); err != nil {
		return err
	}
	if err := checkID("sid", c.SessionID, "ses"); err != nil {
		return err
	}
	if c.Organization != "" {
		if err := checkID("org", c.Organization, "org"); err != nil {
			return err
		}
	}
	if c.Actor != nil {
		if err := checkID("act.sub", c.Actor.Subject, "usr"); err != nil {
			return err
		}
	}
	return nil
}

// checkID reports whether id is a well-formed ID with the given prefix.
func checkID(claim string, id pulid.ID, prefix string) error {
	if id == "" {
		return fmt.Errorf("%w: no %s", ErrClaims, claim)
	}
	if _, err := pulid.Parse(string(id)); err != nil || id.Prefix() != prefix {
		return fmt.Errorf("%w: %s %s is not a %s_ ID", ErrClaims, claim, quote(string(id)), prefix)
	}
	return nil
}

// audience is the aud claim: one string or an array of strings.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(data, &l); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = l
	return nil
}

// numericDate is a JWT NumericDate: seconds since the Unix epoch, possibly
// with a fraction.
type numericDate float64

// maxNumericDate is the start of year 10000: later dates are refused.
const maxNumericDate = 253402300800

func newNumericDate(t time.Time) *numericDate {
	if t.IsZero() {
		return nil
	}
	d := numericDate(t.Unix())
	return &d
}

func (d *numericDate) time() time.Time {
	if d == nil {
		return time.Time{}
	}
	sec, frac := math.Modf(float64(*d))
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func (d numericDate) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(d), 10), nil
}

func (d *numericDate) UnmarshalJSON(data []byte) error {
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return errors.New("a time claim is not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f >= maxNumericDate {
		return errors.New("a time claim is out of range")
	}
	*d = numericDate(f)
	return nil
}
