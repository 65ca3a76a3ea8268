package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// checkHeaderValue refuses a value that could end a header line: CR, LF and
// every other control character but tab.
func checkHeaderValue(field, v string) error {
	for _, r := range v {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return fmt.Errorf("%w: %s holds a line break or control character %q", ErrMessage, field, r)
		}
	}
	return nil
}

// recipient checks m.To and returns it parsed.
func recipient(m Message) (*mail.Address, error) {
	if err := checkHeaderValue("To", m.To); err != nil {
		return nil, err
	}
	if m.To == "" {
		return nil, fmt.Errorf("%w: no To address", ErrMessage)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: To %q is not one email address: %w", ErrMessage, m.To, err)
	}
	if err := checkHeaderValue("Subject", m.Subject); err != nil {
		return nil, err
	}
	return to, nil
}

// encodeSubject returns s as the value of a Subject header, folded so that
// its lines keep within 78 characters where it can: ASCII as is, folded at
// spaces; anything else (and ASCII holding "=?", which a reader would take
// for an encoded word) as RFC 2047 encoded words, one per line.
func encodeSubject(s string) string {
	const firstLine = 78 - len("Subject: ")
	if isASCII(s) && !strings.Contains(s, "=?") {
		return foldASCII(s, firstLine)
	}
	return encodedWords(s)
}

// foldASCII breaks s before spaces so that the first line holds at most
// first characters and the others 78, where the words allow. Unfolding
// (removing each CRLF) gives s back.
func foldASCII(s string, first int) string {
	var b strings.Builder
	line, limit := 0, first
	for i, word := range strings.Split(s, " ") {
		if i > 0 {
			if word != "" && line > 1 && line+1+len(word) > limit {
				b.WriteString("\r\n ")
				line, limit = 1, 78
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}

// encodedWords returns s as Q-encoded UTF-8 words (RFC 2047) of at most 62
// characters, separated by folds, never splitting a character.
func encodedWords(s string) string {
	const maxText = 50 // encoded text per word; the word adds 12
	var words []string
	var cur strings.Builder
	flush := func() {
		words = append(words, "=?utf-8?q?"+cur.String()+"?=")
		cur.Reset()
	}
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("!*+-/", r)):
			enc = string(r)
		default:
			n := utf8.EncodeRune(buf[:], r)
			for _, c := range buf[:n] {
				enc += fmt.Sprintf("=%02X", c)
			}
		}
		if cur.Len() > 0 && cur.Len()+len(enc) > maxText {
			flush()
		}
		cur.WriteString(enc)
	}
	if cur.Len() > 0 || len(words) == 0 {
		flush()
	}
	return strings.Join(words, "\r\n ")
}

// buildMessage returns the RFC 5322 message for m, with CRLF line ends.
func buildMessage(from, to *mail.Address, m Message, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	header := func(name, value string) {
		buf.WriteString(name)
		buf.WriteString(": ")
		buf.WriteString(value)
		buf.WriteString("\r\n")
	}
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(from.Address))
	header("From", from.String())
	header("To", to.String())
	header("Subject", encodeSubject(m.Subject))
	header("MIME-Version", "1.0")
	// RFC 3834: an automatic message; auto-responders do not answer it.
	header("Auto-Submitted", "auto-generated")

	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, m.Text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	// Folded before the parameter: the boundary alone is 60 characters.
	params := mime.FormatMediaType("x", map[string]string{"boundary": mw.Boundary()})
	header("Content-Type", "multipart/alternative;\r\n "+strings.TrimPrefix(params, "x; "))
	buf.WriteString("\r\n")
	// Alternatives go from the plainest to the preferred (RFC 2046 5.1.4).
	for _, part := range []struct{ typ, body string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), nil
}

// writeQP writes s quoted-printable (line breaks become CRLF), ending with
// a line break.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	if !strings.HasSuffix(s, "\n") {
		if _, err := qp.Write([]byte("\r\n")); err != nil {
			return err
		}
	}
	return qp.Close()
}

// messageID returns a new, unique Message-ID in the domain of the sender.
func messageID(from string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "<" + hex.EncodeToString(b[:]) + "@" + domain + ">"
}
