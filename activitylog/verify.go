package activitylog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/activitychain"
)

// ErrUnknownChain is returned for a chain without a head and without rows.
var ErrUnknownChain = errors.New("activitylog: no such chain")

// ErrBroken is matched (errors.Is) by every *Problem.
var ErrBroken = errors.New("activitylog: the chain is broken")

// ProblemKind names how a chain is broken.
type ProblemKind string

// The kinds of Problem.
const (
	// Altered: the row's content does not hash to its stored hash (a
	// field was edited, or rows were swapped).
	Altered ProblemKind = "altered"
	// Missing: rows are missing before this position (deleted), or the
	// row's predecessor differs (prev_hash does not link).
	Missing ProblemKind = "missing"
	// Truncated: the newest rows of the chain are gone (the head names a
	// later position or another hash than the last row).
	Truncated ProblemKind = "truncated"
)

// Problem is the first place a chain is broken.
type Problem struct {
	Chain string
	Kind  ProblemKind
	// Seq is the position where the chain breaks; ID the row found there
	// ("" when none is).
	Seq    int64
	ID     string
	Detail string
}

func (p *Problem) Error() string {
	at := fmt.Sprintf("at position %d", p.Seq)
	if p.ID != "" {
		at += " (activity " + p.ID + ")"
	}
	return fmt.Sprintf("activitylog: chain %s: %s %s: %s", p.Chain, p.Kind, at, p.Detail)
}

// Unwrap makes a Problem match ErrBroken.
func (p *Problem) Unwrap() error { return ErrBroken }

// Report is the outcome of verifying one chain.
type Report struct {
	Chain string `json:"chain"`
	// Rows is the number of rows checked; From and To their positions.
	Rows int64 `json:"rows"`
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Anchor is the position the checked rows start after (pruned rows,
	// or rows written before the chains existed, which carry no hash).
	Anchor int64 `json:"anchor"`
	// Problem is the first break found; nil when the chain is intact.
	Problem *Problem `json:"problem,omitempty"`
}

// OK reports whether the chain is intact.
func (r *Report) OK() bool { return r.Problem == nil }

// walker checks rows one by one against the link they should continue.
type walker struct {
	r        *Report
	next     int64  // the position the next row must have; 0: any (a file's first row)
	prevHash string // the hash the next row must link to
}

func (w *walker) row(e Entry) bool {
	if w.r.Problem != nil {
		return false
	}
	switch {
	case w.next != 0 && e.Seq > w.next:
		w.r.Problem = &Problem{Chain: w.r.Chain, Kind: Missing, Seq: w.next,
			Detail: fmt.Sprintf("positions %d to %d are missing; the next row found is at %d", w.next, e.Seq-1, e.Seq)}
		return false
	case w.next != 0 && e.Seq < w.next:
		w.r.Problem = &Problem{Chain: w.r.Chain, Kind: Altered, Seq: e.Seq, ID: e.ID,
			Detail: fmt.Sprintf("position %d comes after position %d", e.Seq, w.next-1)}
		return false
	}
	if h, err := HashOf(e); err != nil || h != e.Hash {
		w.r.Problem = &Problem{Chain: w.r.Chain, Kind: Altered, Seq: e.Seq, ID: e.ID,
			Detail: "the row's content (its position included) does not match its hash: it was edited or moved"}
		return false
	}
	if w.next != 0 && e.PrevHash != w.prevHash {
		w.r.Problem = &Problem{Chain: w.r.Chain, Kind: Missing, Seq: e.Seq, ID: e.ID,
			Detail: "the row does not link to the row before it (prev_hash differs): a row before it was removed or replaced"}
		return false
	}
	if w.r.Rows == 0 {
		w.r.From = e.Seq
	}
	w.r.Rows++
	w.r.To = e.Seq
	w.next, w.prevHash = e.Seq+1, e.Hash
	return true
}

// Verify walks chain in the database through client, oldest row first, in
// batches, and reports its first break. The context's actor must be able to
// read the chain's rows and head (the system). Rows at or before the
// chain's anchor are not checked: they were pruned, or written before the
// chains existed and carry no hash.
func Verify(ctx context.Context, client *ent.Client, chain string) (*Report, error) {
	head, err := client.ActivityChain.Query().Where(activitychain.ID(chain)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownChain, chain)
	}
	if err != nil {
		return nil, fmt.Errorf("activitylog: reading the head of chain %s: %w", chain, err)
	}
	r := &Report{Chain: chain, Anchor: head.AnchorSeq}
	w := &walker{r: r, next: head.AnchorSeq + 1, prevHash: head.AnchorHash}
	err = walk(ctx, client, chain, head.AnchorSeq, func(a *ent.Activity) (bool, error) {
		return w.row(FromActivity(a)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("activitylog: reading chain %s: %w", chain, err)
	}
	if r.Problem != nil {
		// A broken chain is the report's finding, not a failure to verify.
		return r, nil //nolint:nilerr // r.Problem is an error type, returned as data
	}
	if last := w.next - 1; last != head.Seq || w.prevHash != head.Hash && head.Seq > head.AnchorSeq {
		r.Problem = &Problem{Chain: chain, Kind: Truncated, Seq: w.next,
			Detail: fmt.Sprintf("the chain's head is at position %d, the last row found at %d", head.Seq, last)}
	}
	return r, nil
}

// walk calls fn with the rows of chain after position after, in order, in
// batches of 1000, until fn returns false or an error.
func walk(ctx context.Context, client *ent.Client, chain string, after int64, fn func(*ent.Activity) (bool, error)) error {
	const batch = 1000
	for {
		rows, err := client.Activity.Query().
			Where(activity.Chain(chain), activity.SeqGT(after)).
			Order(ent.Asc(activity.FieldSeq)).Limit(batch).All(ctx)
		if err != nil {
			return err
		}
		for _, a := range rows {
			more, err := fn(a)
			if err != nil || !more {
				return err
			}
			after = a.Seq
		}
		if len(rows) < batch {
			return nil
		}
	}
}

// FileError is a line of an export that could not be read.
type FileError struct {
	Line int
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("activitylog: line %d of the export: %v", e.Line, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// VerifyFile checks an export written by Export (JSON Lines, one Entry per
// line, each chain's rows in order): every row's hash, and every link
// between consecutive rows of a chain. The first row of each chain in the
// file is taken as its start. It reports each chain in the order of first
// appearance.
func VerifyFile(r io.Reader) ([]*Report, error) {
	var reports []*Report
	walkers := map[string]*walker{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Entry
		dec := json.NewDecoder(bytesReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, &FileError{Line: line, Err: err}
		}
		if e.Chain == "" || e.Seq <= 0 || e.Hash == "" {
			return nil, &FileError{Line: line, Err: errors.New("not an activity entry: chain, seq and hash are required")}
		}
		w, ok := walkers[e.Chain]
		if !ok {
			w = &walker{r: &Report{Chain: e.Chain, Anchor: e.Seq - 1}}
			walkers[e.Chain] = w
			reports = append(reports, w.r)
		}
		w.row(e)
	}
	if err := sc.Err(); err != nil {
		return nil, &FileError{Line: line + 1, Err: err}
	}
	return reports, nil
}
