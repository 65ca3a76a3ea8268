package activitylog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Export writes the rows of chain from the first that occurred at or after
// since (the zero time: from the oldest kept row) to the newest, in chain
// order, one Entry per line (JSON Lines) with its hashes, and returns the
// number of rows written. The rows form an unbroken segment of the chain,
// so VerifyFile can check the file on its own. The context's actor must be
// able to read the rows.
func Export(ctx context.Context, client *ent.Client, w io.Writer, chain string, since time.Time) (int64, error) {
	after := int64(0)
	if !since.IsZero() {
		first, err := client.Activity.Query().
			Where(activity.Chain(chain), activity.CreatedAtGTE(since)).
			Order(ent.Asc(activity.FieldSeq)).Select(activity.FieldSeq).First(ctx)
		if ent.IsNotFound(err) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("activitylog: export of chain %s: %w", chain, err)
		}
		after = first.Seq - 1
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var n int64
	err := walk(ctx, client, chain, after, func(a *ent.Activity) (bool, error) {
		if a.Hash == "" {
			return true, nil // written before the chains existed: nothing to verify
		}
		n++
		return true, enc.Encode(FromActivity(a))
	})
	if err != nil {
		return n, fmt.Errorf("activitylog: export of chain %s: %w", chain, err)
	}
	return n, nil
}
