package mail_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// envelope is one message as the test server received it.
type envelope struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string // user of a successful AUTH, "" without
	TLS      bool   // whether the session ran over TLS
}

// backend is a go-smtp server backend that records what it receives. With
// user set it offers AUTH PLAIN and requires it; rcptErr and dataErr, when
// set, are the replies to RCPT and DATA.
type backend struct {
	user, pass string
	rcptErr    error
	dataErr    error

	mu       sync.Mutex
	received []envelope
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{b: b, env: envelope{TLS: isTLS}}, nil
}

func (b *backend) messages() []envelope {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]envelope(nil), b.received...)
}

type session struct {
	b   *backend
	env envelope
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.user || password != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.env.AuthUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.b.user != "" && s.env.AuthUser == "" {
		return smtp.ErrAuthRequired
	}
	s.env.From = from
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.env.To = append(s.env.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	env := s.env
	env.Data = data
	s.b.mu.Lock()
	s.b.received = append(s.b.received, env)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset() {
	s.env = envelope{AuthUser: s.env.AuthUser, TLS: s.env.TLS}
}

func (s *session) Logout() error { return nil }

// serverMode is how the test server secures connections.
type serverMode int

const (
	plainServer    serverMode = iota // no TLS, no STARTTLS
	startTLSServer                   // offers STARTTLS
	implicitServer                   // TLS from the first byte
)

type serverOptions struct {
	mode              serverMode
	allowInsecureAuth bool
}

// startServer runs a go-smtp server for be on 127.0.0.1 and returns its
// host and port; it is closed when the test ends.
func startServer(t *testing.T, be *backend, opts serverOptions) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = opts.allowInsecureAuth
	s.ErrorLog = log.New(io.Discard, "", 0)
	switch opts.mode {
	case startTLSServer:
		s.TLSConfig = selfSignedTLS(t)
	case implicitServer:
		l = tls.NewListener(l, selfSignedTLS(t))
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		// Close the listener too: a Close that runs before Serve has
		// taken the listener would leave Serve running forever.
		_ = s.Close() // Serve's result is what the test checks
		l.Close()
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("smtp server: %v", err)
		}
	})
	addr := l.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// closedPort returns a port of 127.0.0.1 on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// silentServer accepts connections and never says a word; it returns the
// port.
func silentServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

var (
	certOnce sync.Once
	certTLS  *tls.Config
	certErr  error
)

// selfSignedTLS returns a server TLS config with a certificate for
// 127.0.0.1 and localhost that no client trusts.
func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "mail test server"},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		certTLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	})
	if certErr != nil {
		t.Fatal(certErr)
	}
	return certTLS.Clone()
}

func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
