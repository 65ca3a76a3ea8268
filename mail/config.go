package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how the connection to the SMTP server is encrypted.
type TLSMode int

const (
	// TLSStartTLS (smtp://, the zero value): connect without TLS, then
	// upgrade with STARTTLS. STARTTLS is required: a server that does not
	// offer it is an error (Stage "tls"), unless SMTPConfig.Insecure is set.
	// There is no "STARTTLS if offered" mode: an attacker on the path can
	// hide the offer, so a mode that falls back would protect nothing.
	TLSStartTLS TLSMode = iota
	// TLSImplicit (smtps://): TLS from the first byte, usually port 465.
	TLSImplicit
)

// String returns "starttls" or "implicit".
func (m TLSMode) String() string {
	switch m {
	case TLSStartTLS:
		return "starttls"
	case TLSImplicit:
		return "implicit"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// Default ports and timeout of ParseURL and NewSMTP.
const (
	DefaultPort        = 587 // smtp:// (message submission, RFC 6409)
	DefaultTLSPort     = 465 // smtps:// (submission over implicit TLS, RFC 8314)
	DefaultSMTPTimeout = 10 * time.Second
)

// SMTPConfig is a parsed IDENTITY_SMTP_URL; see ParseURL for the URL form.
// Print it with Redacted (String and slog do so too): the struct holds the
// password.
type SMTPConfig struct {
	Host string
	// Port is the TCP port; 0 means DefaultPort, or DefaultTLSPort for
	// TLSImplicit.
	Port int
	// Username and Password are sent with AUTH PLAIN when Username is set.
	Username, Password string
	// TLS is how the connection is encrypted.
	TLS TLSMode
	// Insecure allows, for a loopback host only (localhost, 127.0.0.0/8,
	// ::1), what is otherwise refused: a session without TLS when the server
	// does not offer STARTTLS, and AUTH over it. It is for a mail catcher
	// running on the developer's machine. With Insecure, STARTTLS is still
	// used when the server offers it.
	Insecure bool
	// From is the default sender, "no-reply@example.com" or
	// "Example <no-reply@example.com>"; NewSMTP uses it when given no from.
	From string
	// InsecureSkipVerify accepts any server certificate (self-signed,
	// expired, for another name). For test servers only.
	InsecureSkipVerify bool
	// Timeout bounds one Send (connect, TLS and the whole SMTP session);
	// 0 means DefaultSMTPTimeout.
	Timeout time.Duration
}

// ParseURL parses an IDENTITY_SMTP_URL:
//
//	smtp://[user[:password]@]host[:port][?option=value&...]
//	smtps://[user[:password]@]host[:port][?option=value&...]
//
// smtp:// uses STARTTLS (required) on port 587 by default; smtps:// uses
// implicit TLS on port 465 by default. The user name and password are
// percent-encoded ("@" is %40, "/" is %2F, ":" is %3A). Options:
//
//	from=ADDRESS                sender address: no-reply@example.com, or
//	                            "Example <no-reply@example.com>" percent-encoded
//	timeout=DURATION            bound on one send, default 10s (Go syntax: 5s, 1m)
//	insecure=true               smtp:// to localhost only: allow no TLS and AUTH without it
//	insecure_skip_verify=true   accept any server certificate (test servers)
//
// Examples:
//
//	smtp://apikey:s3cret@mail.example.com:587?from=no-reply@example.com
//	smtps://apikey:s3cret@mail.example.com?from=no-reply@example.com&timeout=5s
//	smtp://localhost:1025?insecure=true&from=dev@localhost
//
// Every error is a *URLError (matching ErrURL) whose URL has the password
// replaced by "xxxxx" and whose Reason never quotes it.
func ParseURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		reason := "not a URL; percent-encode the user name and password (@ is %40, / is %2F, ? is %3F, # is %23, : is %3A)"
		var uerr *url.Error
		if errors.As(err, &uerr) && !mayHoldUserinfo(raw) {
			// Without userinfo the cause quotes nothing secret.
			reason = uerr.Err.Error()
		}
		return SMTPConfig{}, &URLError{URL: redactRaw(raw), Reason: reason}
	}
	shown := redactParsed(raw, u)
	bad := func(format string, args ...any) (SMTPConfig, error) {
		return SMTPConfig{}, &URLError{URL: shown, Reason: fmt.Sprintf(format, args...)}
	}

	var cfg SMTPConfig
	switch u.Scheme {
	case "smtp":
		cfg.TLS, cfg.Port = TLSStartTLS, DefaultPort
	case "smtps":
		cfg.TLS, cfg.Port = TLSImplicit, DefaultTLSPort
	case "":
		return bad("missing scheme: write smtp://host or smtps://host")
	default:
		return bad("scheme %q is not smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return bad("missing host: write %s://host", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" {
		return bad("unexpected path: the URL ends after host[:port]")
	}
	if u.Fragment != "" {
		return bad("unexpected fragment (#...): percent-encode # as %%23")
	}
	cfg.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %q is not between 1 and 65535", p)
		}
		cfg.Port = n
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.Username == "" {
			return bad("a password without a user name")
		}
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		values := q[key]
		if len(values) != 1 {
			return bad("option %q given %d times", key, len(values))
		}
		v := values[0]
		switch key {
		case "from":
			if _, err := mail.ParseAddress(v); err != nil {
				return bad("from: %q is not an email address (%v)", v, err)
			}
			cfg.From = v
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("timeout: %q is not a positive duration such as 5s or 1m", v)
			}
			cfg.Timeout = d
		case "insecure":
			if cfg.Insecure, err = parseBool(v); err != nil {
				return bad("insecure: %v", err)
			}
		case "insecure_skip_verify":
			if cfg.InsecureSkipVerify, err = parseBool(v); err != nil {
				return bad("insecure_skip_verify: %v", err)
			}
		default:
			return bad("unknown option %q (known: from, timeout, insecure, insecure_skip_verify)", key)
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultSMTPTimeout
	}
	if err := cfg.checkInsecure(); err != "" {
		return bad("%s", err)
	}
	return cfg, nil
}

// checkInsecure returns why Insecure cannot be used, or "".
func (c SMTPConfig) checkInsecure() string {
	if !c.Insecure {
		return ""
	}
	if c.TLS == TLSImplicit {
		return "insecure=true applies to smtp:// only; smtps:// is always TLS"
	}
	if !isLoopback(c.Host) {
		return fmt.Sprintf("insecure=true is allowed only for localhost, 127.0.0.1 or ::1, not %q", c.Host)
	}
	return ""
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redacted returns the configuration as an IDENTITY_SMTP_URL with the
// password replaced by "xxxxx", for logs and error messages. Options at
// their defaults are left out.
func (c SMTPConfig) Redacted() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.port()))}
	if c.TLS == TLSImplicit {
		u.Scheme = "smtps"
	}
	switch {
	case c.Username != "" && c.Password != "":
		u.User = url.UserPassword(c.Username, "xxxxx")
	case c.Username != "":
		u.User = url.User(c.Username)
	}
	q := url.Values{}
	if c.From != "" {
		q.Set("from", c.From)
	}
	if c.Timeout != 0 && c.Timeout != DefaultSMTPTimeout {
		q.Set("timeout", c.Timeout.String())
	}
	if c.Insecure {
		q.Set("insecure", "true")
	}
	if c.InsecureSkipVerify {
		q.Set("insecure_skip_verify", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// String returns c.Redacted(), so that printing a config with %v or %s does
// not print the password.
func (c SMTPConfig) String() string { return c.Redacted() }

// GoString returns c.Redacted() too, for %#v.
func (c SMTPConfig) GoString() string { return "mail.SMTPConfig(" + strconv.Quote(c.Redacted()) + ")" }

// LogValue logs c as c.Redacted().
func (c SMTPConfig) LogValue() slog.Value { return slog.StringValue(c.Redacted()) }

func (c SMTPConfig) port() int {
	switch {
	case c.Port != 0:
		return c.Port
	case c.TLS == TLSImplicit:
		return DefaultTLSPort
	}
	return DefaultPort
}

func (c SMTPConfig) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultSMTPTimeout
}

// redactParsed returns raw fit for an error message, u being its parse.
func redactParsed(raw string, u *url.URL) string {
	if u.User != nil {
		return u.Redacted()
	}
	if u.Path == "" && u.Fragment == "" && u.Opaque == "" {
		return raw // no userinfo: nothing secret
	}
	// "smtp://user:pa/ss@host" parses as host "user", port "pa", path
	// "/ss@host": the password may be anywhere.
	return redactRaw(raw)
}

// mayHoldUserinfo reports whether raw, which does not parse, may hold a
// password somewhere.
func mayHoldUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	return strings.Contains(rest, "@")
}

// redactRaw replaces what may be a password in raw (which may not parse)
// by "xxxxx": from the first ":" after the scheme to the userinfo's "@".
// The "@" is the last one before the first "?" or, when there is none
// (a password with an unescaped "?"), the last one of all; it errs on the
// side of hiding too much.
func redactRaw(raw string) string {
	prefix, rest, ok := strings.Cut(raw, "://")
	if ok {
		prefix += "://"
	} else {
		prefix, rest = "", raw
	}
	head := rest
	if q := strings.Index(rest, "?"); q >= 0 {
		head = rest[:q]
	}
	at := strings.LastIndex(head, "@")
	if at < 0 {
		at = strings.LastIndex(rest, "@")
	}
	if at < 0 {
		return raw
	}
	colon := strings.Index(rest[:at], ":")
	if colon < 0 {
		return raw
	}
	return prefix + rest[:colon+1] + "xxxxx" + rest[at:]
}
