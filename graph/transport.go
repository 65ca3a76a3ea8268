package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/internal/txn"
)

// The transports of /graphql. gqlgen's own answer a body they cannot
// decode, a mutation over GET, or a method or content type they do not
// serve with errors without extensions.code (and, for a body, through a
// path that panicked in entgql's transaction extension). These check the
// request first and answer every such mistake with a typed error:
//
//	body not readable, empty, not a JSON object  400 BAD_USER_INPUT
//	batch body (a JSON array)                    400 BAD_USER_INPUT
//	body over the size limit                     413 PAYLOAD_TOO_LARGE
//	mutation or subscription over GET            405 BAD_USER_INPUT, Allow: POST
//	method other than GET, POST, OPTIONS         405 BAD_USER_INPUT, Allow: GET, POST, OPTIONS
//	POST with a Content-Type other than JSON     415 BAD_USER_INPUT
//	protocol upgrade (websocket)                 400 BAD_USER_INPUT

// postTransport serves POST with a JSON body. It checks the body, then
// hands the request to gqlgen's POST transport.
type postTransport struct{ transport.POST }

func (postTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Upgrade") == "" && mediaType(r) == "application/json"
}

// requestBody is what a POST body must decode into; fields are raw to
// tell the caller which one is wrong.
type requestBody struct {
	Query         json.RawMessage `json:"query"`
	OperationName json.RawMessage `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			forbid(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit))
			return
		}
		forbid(w, http.StatusBadRequest, CodeBadUserInput, "the request body could not be read")
		return
	}
	if msg := checkBody(body); msg != "" {
		forbid(w, http.StatusBadRequest, CodeBadUserInput, msg)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.POST.Do(w, r, exec)
}

const wantBody = `send one JSON object: {"query": "...", "variables": {...}, "operationName": "..."}`

// checkBody returns what is wrong with a POST body, or "".
func checkBody(body []byte) string {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return "the request body is empty: " + wantBody
	case trimmed[0] == '[':
		return "batched requests are not supported: " + wantBody + " per request"
	}
	var b requestBody
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return "the request body is not a JSON object: " + wantBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return "the request body has data after its JSON object: " + wantBody
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		want byte
	}{
		{"query", b.Query, '"'},
		{"operationName", b.OperationName, '"'},
		{"variables", b.Variables, '{'},
		{"extensions", b.Extensions, '{'},
	} {
		if len(f.raw) == 0 || string(f.raw) == "null" || f.raw[0] == f.want {
			continue
		}
		if f.want == '"' {
			return fmt.Sprintf("%s must be a string", f.name)
		}
		return fmt.Sprintf("%s must be a JSON object", f.name)
	}
	return ""
}

// getTransport serves queries over GET: query, variables (JSON),
// operationName and extensions (JSON) as URL parameters.
type getTransport struct{}

func (getTransport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

func (getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		forbid(w, http.StatusBadRequest, CodeBadUserInput, "the URL query could not be parsed: escape query, variables and operationName as URL parameters")
		return
	}
	raw := &graphql.RawParams{
		Query:         q.Get("query"),
		OperationName: q.Get("operationName"),
		Headers:       r.Header,
	}
	raw.ReadTime.Start = graphql.Now()
	for _, p := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &raw.Variables}, {"extensions", &raw.Extensions}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if err := dec.Decode(p.dst); err != nil {
			forbid(w, http.StatusBadRequest, CodeBadUserInput, p.name+" must be a JSON object")
			return
		}
	}
	raw.ReadTime.End = graphql.Now()

	ctx := r.Context()
	opCtx, errs := exec.CreateOperationContext(ctx, raw)
	if errs != nil {
		writeGraphQL(w, statusOf(errs), exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs))
		return
	}
	if op := opCtx.Operation; op == nil || op.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		forbid(w, http.StatusMethodNotAllowed, CodeBadUserInput, "GET serves queries only: send mutations with POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeGraphQL(w, http.StatusOK, responses(ctx))
}

// statusOf is gqlgen's status for errors found before execution: 422 for
// a document that does not parse or validate, 200 otherwise.
func statusOf(errs gqlerror.List) int {
	if errcode.GetErrorKind(errs) == errcode.KindProtocol {
		return http.StatusUnprocessableEntity
	}
	return http.StatusOK
}

func writeGraphQL(w http.ResponseWriter, status int, resp *graphql.Response) {
	b, err := json.Marshal(resp)
	if err != nil {
		forbid(w, http.StatusInternalServerError, CodeInternal, "internal error: the response could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// unsupportedTransport comes last and answers every request no other
// transport took.
type unsupportedTransport struct{}

func (unsupportedTransport) Supports(*http.Request) bool { return true }

func (unsupportedTransport) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	switch {
	case r.Header.Get("Upgrade") != "":
		forbid(w, http.StatusBadRequest, CodeBadUserInput, "protocol upgrades (websockets, subscriptions) are not supported: send POST or GET")
	case r.Method == http.MethodPost:
		msg := "a POST needs Content-Type: application/json"
		if ct := mediaType(r); ct != "" {
			msg = fmt.Sprintf("Content-Type %s is not supported: send the body as application/json", truncate(ct, 64))
		}
		forbid(w, http.StatusUnsupportedMediaType, CodeBadUserInput, msg)
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		forbid(w, http.StatusMethodNotAllowed, CodeBadUserInput,
			fmt.Sprintf("method %s is not supported: send POST with a JSON body, or GET for queries", truncate(r.Method, 16)))
	}
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// transactioner runs each mutation in a transaction, as
// entgql.Transactioner does, with two differences: a response made before
// an operation existed (a request refused by a transport) passes through
// instead of panicking on the missing operation context, and a failure to
// open or commit the transaction is presented by PresentError (INTERNAL,
// logged) instead of showing the database's message.
type transactioner struct{ entgql.Transactioner }

func (t transactioner) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	if op := oc.Operation; op == nil || op.Operation != ast.Mutation {
		return next(ctx)
	}
	switch own, err := txMode(oc); {
	case err != nil:
		return &graphql.Response{Errors: gqlerror.List{err}}
	case own:
		return next(ctx)
	}
	txCtx, tx, err := t.OpenTx(ctx)
	if err != nil {
		return &graphql.Response{Errors: gqlerror.List{PresentError(ctx, fmt.Errorf("graph: opening the transaction: %w", err))}}
	}
	if etx := ent.TxFromContext(txCtx); etx != nil {
		// The trail chains the request's activities when it commits.
		txn.Track(etx)
	}
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback()
			panic(r)
		}
	}()
	resp := next(txCtx)
	if len(resp.Errors) > 0 {
		_ = tx.Rollback()
		return &graphql.Response{Errors: resp.Errors}
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		return &graphql.Response{Errors: gqlerror.List{PresentError(ctx, fmt.Errorf("graph: committing the transaction: %w", err))}}
	}
	return resp
}

// ownTx lists the mutations that run their own transactions: a wrong
// current password of changePassword (and requestEmailChange) counts as a
// failed sign-in, and that
// count must survive the refusal; and neither holds the request's
// transaction (SQLite's write lock) while it hashes a password. Such a
// mutation may not share an operation with other fields.
var ownTx = map[string]bool{"changePassword": true, "setUserPassword": true, "requestEmailChange": true}

// txMode tells how a mutation operation runs: in the request's
// transaction (the default), in transactions of its own (every field is in
// ownTx), or not at all (it mixes both kinds; err says why). Fragments and
// @skip/@include are applied first, and __typename is ignored.
func txMode(oc *graphql.OperationContext) (own bool, err *gqlerror.Error) {
	var ownN, other int
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Mutation"}) {
		switch {
		case f.Name == "__typename":
		case ownTx[f.Name]:
			ownN++
		default:
			other++
		}
	}
	switch {
	case ownN > 0 && other > 0:
		return false, &gqlerror.Error{
			Message:    "changePassword, setUserPassword and requestEmailChange must be the only field of their mutation: send the other fields in another request",
			Extensions: map[string]any{"code": CodeBadUserInput},
		}
	case ownN > 1:
		// Each hashes a password (64 MiB of argon2id by default): one per
		// request, so that aliases cannot multiply the work.
		return false, &gqlerror.Error{
			Message:    "one changePassword, setUserPassword or requestEmailChange per request",
			Extensions: map[string]any{"code": CodeBadUserInput},
		}
	}
	return ownN > 0, nil
}
